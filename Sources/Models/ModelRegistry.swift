import Foundation

/// From the identifier a checkpoint declares (`model_type` in config.json,
/// `general.architecture` in GGUF metadata) to the constructor of its
/// architecture. Identifiers are matched exactly, never guessed from names.
public enum ModelRegistry {
    public enum Family: String, Sendable {
        case encoder
        case decoder
    }

    public struct Entry: Sendable {
        public var family: Family
        /// Loads the model at a directory (safetensors + config.json) or a .gguf file.
        public var load: @Sendable (URL) throws -> any Sendable

        public init(family: Family, load: @escaping @Sendable (URL) throws -> any Sendable) {
            self.family = family
            self.load = load
        }
    }

    /// One line per architecture.
    public static let architectures: [String: Entry] = [
        "bert": Entry(family: .encoder) { try BERTModel(directory: $0) },
        "llama": Entry(family: .decoder) { $0.pathExtension == "gguf" ? try LlamaModel(gguf: $0) : try LlamaModel(directory: $0) },
        "qwen2": Entry(family: .decoder) { $0.pathExtension == "gguf" ? try LlamaModel(gguf: $0) : try LlamaModel(qwen2: $0) },
        "qwen3": Entry(family: .decoder) { $0.pathExtension == "gguf" ? try LlamaModel(gguf: $0) : try LlamaModel(qwen3: $0) },
        // A GGUF declares `gemma3`; transformers' text-only config `gemma3_text`.
        "gemma3": Entry(family: .decoder) { try LlamaModel(gguf: $0) },
        "gemma3_text": Entry(family: .decoder) { try LlamaModel(gemma3: $0) },
    ]

    /// The registered entry for the model at `url`, or `unknownArchitecture`.
    public static func entry(at url: URL) throws -> Entry {
        let name = try architecture(at: url)
        guard let entry = architectures[name] else {
            throw ModelsError.unknownArchitecture(name: name, file: declaringFile(url).path,
                                                  supported: architectures.keys.sorted())
        }
        return entry
    }

    public static func load(_ url: URL) throws -> any Sendable {
        try entry(at: url).load(url)
    }

    /// The file that declares the architecture: `config.json` of a directory, or the GGUF itself.
    static func declaringFile(_ url: URL) -> URL {
        url.pathExtension == "gguf" ? url : url.appendingPathComponent("config.json")
    }

    /// The architecture identifier the checkpoint at `url` declares.
    public static func architecture(at url: URL) throws -> String {
        let file = declaringFile(url)
        if url.pathExtension == "gguf" {
            return try ggufArchitecture(file)
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ModelsError.missingFile(path: file.path)
        }
        struct Declared: Decodable {
            var modelType: String?
            enum CodingKeys: String, CodingKey { case modelType = "model_type" }
        }
        let declared: Declared
        do {
            declared = try JSONDecoder().decode(Declared.self, from: data)
        } catch {
            throw ModelsError.invalidConfiguration(file: file.path, reason: "\(error)")
        }
        guard let name = declared.modelType else {
            throw ModelsError.invalidConfiguration(file: file.path, reason: "no model_type key")
        }
        return name
    }

    /// Reads `general.architecture` from a GGUF header, walking the metadata
    /// key/values in order (it is conventionally the first one).
    static func ggufArchitecture(_ url: URL) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelsError.missingFile(path: url.path)
        }
        var offset = 0
        func bad(_ why: String) -> ModelsError {
            ModelsError.invalidConfiguration(file: url.path, reason: "GGUF header: \(why) at byte \(offset)")
        }
        func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= data.count else { throw bad("truncated") }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { dst in
                data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: offset..<(offset + size))
            }
            offset += size
            return T(littleEndian: value)
        }
        func string() throws -> String {
            let n = Int(try read(UInt64.self))
            guard n >= 0, offset + n <= data.count else { throw bad("string of \(n) bytes runs past the end") }
            defer { offset += n }
            return String(decoding: data[offset..<(offset + n)], as: UTF8.self)
        }
        // Byte sizes of the fixed-width GGUF value types, by type id.
        let scalarSizes: [UInt32: Int] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8]
        func skip(type: UInt32) throws {
            if let size = scalarSizes[type] {
                offset += size
            } else if type == 8 {
                _ = try string()
            } else if type == 9 {
                let inner = try read(UInt32.self)
                let count = try read(UInt64.self)
                if let size = scalarSizes[inner] {
                    offset += Int(count) * size
                } else {
                    for _ in 0..<count { try skip(type: inner) }
                }
            } else {
                throw bad("unknown value type \(type)")
            }
            guard offset <= data.count else { throw bad("value runs past the end") }
        }
        guard data.count >= 4, data.prefix(4) == Data("GGUF".utf8) else { throw bad("not a GGUF file (magic)") }
        offset = 4
        let version = try read(UInt32.self)
        guard version == 2 || version == 3 else { throw bad("unsupported version \(version)") }
        _ = try read(UInt64.self)  // tensor count
        let kvCount = try read(UInt64.self)
        for _ in 0..<kvCount {
            let key = try string()
            let type = try read(UInt32.self)
            if key == "general.architecture", type == 8 {
                return try string()
            }
            try skip(type: type)
        }
        throw ModelsError.invalidConfiguration(file: url.path, reason: "no general.architecture key")
    }
}
