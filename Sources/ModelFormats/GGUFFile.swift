import Foundation
import Tensor

/// GGUF metadata value types, with the ids the format stores.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5
    case float32 = 6, bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// One metadata value. Arrays keep their element type so an empty array is
/// still typed. Not `indirect`: the array case already lives on the heap, and
/// boxing every element cost a tokenizer's ~150k values a heap object each.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type, if it fits in Int.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// float32/float64, or an integer converted.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    public var arrayValue: [GGUFValue]? { if case let .array(_, a) = self { return a } else { return nil } }

    var typeName: String {
        if case let .array(t, _) = self { return "array of \(t)" }
        return "\(type)"
    }
}

/// GGUF key/value metadata with typed accessors. Accessors throw
/// `ModelFormatError.missingKey` / `.wrongValueType` naming file and key;
/// the `default:` forms return the default only when the key is absent.
public struct GGUFMetadata: Sendable {
    public let file: String
    /// Keys in file order.
    public let keys: [String]
    public let values: [String: GGUFValue]

    public subscript(_ key: String) -> GGUFValue? { values[key] }
    public func contains(_ key: String) -> Bool { values[key] != nil }

    private func value(_ key: String) throws -> GGUFValue {
        guard let v = values[key] else { throw ModelFormatError.missingKey(file: file, key: key) }
        return v
    }

    private func wrong(_ key: String, _ expected: String, _ v: GGUFValue) -> ModelFormatError {
        .wrongValueType(file: file, key: key, expected: expected, found: v.typeName)
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.stringValue else { throw wrong(key, "string", v) }
        return s
    }

    public func int(_ key: String) throws -> Int {
        let v = try value(key)
        guard let i = v.intValue else { throw wrong(key, "integer", v) }
        return i
    }

    public func float(_ key: String) throws -> Double {
        let v = try value(key)
        guard let d = v.doubleValue else { throw wrong(key, "number", v) }
        return d
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard let b = v.boolValue else { throw wrong(key, "bool", v) }
        return b
    }

    public func array(_ key: String) throws -> [GGUFValue] {
        let v = try value(key)
        guard let a = v.arrayValue else { throw wrong(key, "array", v) }
        return a
    }

    public func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard case let .array(t, a) = v, t == .string || a.isEmpty else { throw wrong(key, "array of string", v) }
        return a.compactMap(\.stringValue)
    }

    public func intArray(_ key: String) throws -> [Int] {
        let v = try value(key)
        guard case let .array(_, a) = v else { throw wrong(key, "array of integer", v) }
        let out = a.compactMap(\.intValue)
        guard out.count == a.count else { throw wrong(key, "array of integer", v) }
        return out
    }

    public func floatArray(_ key: String) throws -> [Double] {
        let v = try value(key)
        guard case let .array(_, a) = v else { throw wrong(key, "array of number", v) }
        let out = a.compactMap(\.doubleValue)
        guard out.count == a.count else { throw wrong(key, "array of number", v) }
        return out
    }

    public func string(_ key: String, default d: String) throws -> String { contains(key) ? try string(key) : d }
    public func int(_ key: String, default d: Int) throws -> Int { contains(key) ? try int(key) : d }
    public func float(_ key: String, default d: Double) throws -> Double { contains(key) ? try float(key) : d }
    public func bool(_ key: String, default d: Bool) throws -> Bool { contains(key) ? try bool(key) : d }
}

/// One tensor of a GGUF file: its ggml type, dimensions and bytes (inside
/// the file's memory map, which it keeps alive).
public struct GGUFTensor: Sendable {
    public let file: String
    public let name: String
    public let type: GGMLType
    /// ggml order: ne[0] is the innermost (contiguous) dimension, i.e. the
    /// number of columns of a weight matrix.
    public let ne: [Int]
    /// Absolute byte offset in the file.
    public let offset: Int
    public let byteCount: Int
    let storage: ByteStorage

    /// Row-major shape (ne reversed), as numpy/PyTorch would show it.
    public var shape: [Int] { ne.reversed() }
    public var elementCount: Int { ne.reduce(1, *) }

    /// The whole tensor as f32, shape `shape`.
    public func dequantized() throws -> Tensor {
        guard type.isSupported else {
            throw ModelFormatError.unsupportedTensorType(file: file, tensor: name, type: type.description)
        }
        let n = elementCount
        return Tensor(shape: shape) { out in
            GGMLQuants.dequantize(type, storage.baseAddress + offset, into: out.baseAddress!, count: n)
        }
    }

    /// The tensor as a [rows, cols] matrix with cols = ne[0] and rows the
    /// product of the other dimensions, kept in its encoding.
    public func quantizedMatrix() throws -> QuantizedMatrix {
        let cols = ne.first ?? 1
        let rows = ne.dropFirst().reduce(1, *)
        do {
            return try QuantizedMatrix(type: type, rows: rows, cols: cols, storage: storage, offset: offset, name: name)
        } catch {
            throw ModelFormatError.from(error, file: file, tensor: name)
        }
    }

    /// Raw bytes of the tensor (valid while this value is alive).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.baseAddress + offset, count: byteCount)
    }
}

/// A memory-mapped GGUF file (versions 2 and 3, little-endian).
///
/// Layout: magic "GGUF", u32 version, u64 tensor count, u64 key/value count,
/// the key/values, the tensor infos (name, n_dims, ne[], type, offset), then
/// padding to `general.alignment` (default 32) and the tensor data.
public struct GGUFFile: Sendable {
    public let path: String
    public let version: Int
    public let metadata: GGUFMetadata
    /// Tensors in file order.
    public let tensors: [GGUFTensor]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    private let index: [String: Int]

    /// ggml's GGML_MAX_NAME is 64 with the terminating NUL: llama.cpp refuses
    /// longer tensor names.
    static let maxTensorNameLength = 63
    /// The GGUF specification's bound on a metadata key.
    static let maxKeyLength = 65_535

    public init(contentsOf url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        try self.init(storage: mapFile(path), path: path)
    }

    /// Parses bytes already in memory (`path` only names them in errors).
    public init(storage: ByteStorage, path: String) throws {
        self.path = path
        var r = GGUFByteReader(bytes: storage.bytes, file: path)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            let s = withUnsafeBytes(of: magic) { String(decoding: $0, as: UTF8.self) }
            throw ModelFormatError.badMagic(file: path, found: s.debugDescription)
        }
        let version = Int(try r.read(UInt32.self, "version"))
        // v1 used 32-bit counts; v3 only added big-endian files (rejected by magic).
        guard version == 2 || version == 3 else { throw ModelFormatError.unsupportedVersion(file: path, version: version) }
        self.version = version
        let tensorCount = try r.count("tensor count")
        let kvCount = try r.count("metadata count")

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try r.string("key #\(i)", maxLength: Self.maxKeyLength)
            let rawType = try r.read(UInt32.self, "value type of '\(key)'")
            guard let t = GGUFValueType(rawValue: rawType) else {
                throw ModelFormatError.unsupportedValueType(file: path, key: key, type: rawType)
            }
            let v = try r.value(t, key: key, depth: 0)
            if values.updateValue(v, forKey: key) == nil { keys.append(key) }
        }
        metadata = GGUFMetadata(file: path, keys: keys, values: values)

        var alignment = 32
        if let a = values["general.alignment"] {
            guard let n = a.intValue, n > 0, n & (n - 1) == 0 else {
                throw ModelFormatError.invalidHeader(file: path, what: "general.alignment", reason: "\(a) is not a power of two")
            }
            alignment = n
        }
        self.alignment = alignment

        struct Info { let name: String; let ne: [Int]; let type: UInt32; let offset: UInt64 }
        var infos: [Info] = []
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.string("name of tensor #\(i)", maxLength: Self.maxTensorNameLength)
            let nDims = Int(try r.read(UInt32.self, "n_dims of tensor '\(name)'"))
            guard nDims <= 8 else {
                throw ModelFormatError.shapeMismatch(file: path, tensor: name, reason: "\(nDims) dimensions")
            }
            var ne: [Int] = []
            for d in 0..<nDims {
                let v = try r.read(UInt64.self, "ne[\(d)] of tensor '\(name)'")
                guard let n = Int(exactly: v), n >= 0, n < (1 << 40) else {
                    throw ModelFormatError.shapeMismatch(file: path, tensor: name, reason: "dimension \(d) is \(v)")
                }
                ne.append(n)
            }
            let type = try r.read(UInt32.self, "type of tensor '\(name)'")
            let offset = try r.read(UInt64.self, "offset of tensor '\(name)'")
            infos.append(Info(name: name, ne: ne, type: type, offset: offset))
        }
        let end = r.position
        dataOffset = (end + alignment - 1) / alignment * alignment

        let fileSize = storage.count
        var tensors: [GGUFTensor] = []
        var index: [String: Int] = [:]
        // Where the next tensor's bytes must start: as llama.cpp's loader
        // requires, tensors tile the data section in the order of their
        // infos, each padded to the alignment, so a corrupted type, shape or
        // offset cannot make one tensor read another's bytes.
        var expectedOffset = 0
        for info in infos {
            guard let type = GGMLType(rawValue: info.type) else {
                throw ModelFormatError.unsupportedTensorType(file: path, tensor: info.name, type: "ggml type id \(info.type)")
            }
            guard index[info.name] == nil else {
                throw ModelFormatError.invalidHeader(file: path, what: "tensor infos", reason: "tensor '\(info.name)' appears twice")
            }
            var elements = 1
            for n in info.ne {
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, product < (1 << 48) else {
                    throw ModelFormatError.shapeMismatch(file: path, tensor: info.name, reason: "ne \(info.ne) has too many elements")
                }
                elements = product
            }
            guard (info.ne.first ?? 1) % type.blockSize == 0, let bytes = type.byteCount(elements: elements) else {
                throw ModelFormatError.shapeMismatch(
                    file: path, tensor: info.name,
                    reason: "ne \(info.ne) is not a whole number of \(type) blocks of \(type.blockSize)")
            }
            guard info.offset % UInt64(alignment) == 0 else {
                throw ModelFormatError.invalidHeader(
                    file: path, what: "offset of tensor '\(info.name)'", reason: "\(info.offset) is not a multiple of \(alignment)")
            }
            guard let rel = Int(exactly: info.offset), rel <= fileSize, dataOffset + rel + bytes <= fileSize else {
                let lo = dataOffset + Int(clamping: info.offset)
                throw ModelFormatError.tensorOutOfBounds(
                    file: path, tensor: info.name, range: lo..<(lo &+ bytes), fileSize: fileSize)
            }
            guard rel == expectedOffset else {
                throw ModelFormatError.invalidHeader(
                    file: path, what: "offset of tensor '\(info.name)'",
                    reason: "\(rel) where the tensors before it end at \(expectedOffset) (tensors must follow one another in the order of their infos, as llama.cpp requires)")
            }
            expectedOffset += (bytes + alignment - 1) / alignment * alignment
            index[info.name] = tensors.count
            tensors.append(GGUFTensor(
                file: path, name: info.name, type: type, ne: info.ne,
                offset: dataOffset + rel, byteCount: bytes, storage: storage))
        }
        self.tensors = tensors
        self.index = index
    }

    public var tensorNames: [String] { tensors.map(\.name) }
    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func tensor(named name: String) throws -> GGUFTensor {
        guard let i = index[name] else { throw ModelFormatError.missingTensor(file: path, tensor: name) }
        return tensors[i]
    }
}

/// Bounds-checked little-endian cursor over the header.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let n = MemoryLayout<T>.size
        guard bytes.count - position >= n else {
            throw ModelFormatError.truncated(file: file, what: what(), offset: position)
        }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += n
        return v
    }

    /// A u64 count that must be plausible for the bytes left (each item takes
    /// at least one byte), so corrupt counts fail instead of allocating.
    mutating func count(_ what: String, minimumItemBytes: Int = 1) throws -> Int {
        let at = position
        let v = try read(UInt64.self, what)
        guard let n = Int(exactly: v), n <= (bytes.count - position) / max(1, minimumItemBytes) else {
            throw ModelFormatError.truncated(file: file, what: "\(what) (\(v))", offset: at)
        }
        return n
    }

    /// A length-prefixed string; `maxLength` bounds names whose limit the
    /// format sets, so a corrupt length fails at once instead of reading
    /// (and printing) hundreds of megabytes of tensor data as a name.
    mutating func string(_ what: @autoclosure () -> String, maxLength: Int? = nil) throws -> String {
        let at = position
        let n = try read(UInt64.self, "length of \(what())")
        if let maxLength, n > UInt64(maxLength) {
            throw ModelFormatError.invalidHeader(file: file, what: "length of \(what()) at byte \(at)", reason: "\(n) bytes, more than the format's \(maxLength)")
        }
        guard n <= UInt64(bytes.count - position) else {
            throw ModelFormatError.truncated(file: file, what: "\(what()) (\(n) bytes)", offset: at)
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(n))]), as: UTF8.self)
        position += Int(n)
        return s
    }

    mutating func value(_ t: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "value of '\(key)'"
        switch t {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        case .bool:
            let b = try read(UInt8.self, what)
            guard b <= 1 else { throw ModelFormatError.invalidHeader(file: file, what: what, reason: "bool byte \(b)") }
            return .bool(b == 1)
        case .string: return .string(try string(what))
        case .array:
            guard depth < 16 else {
                throw ModelFormatError.invalidHeader(file: file, what: what, reason: "arrays nested deeper than 16")
            }
            let raw = try read(UInt32.self, "element type of '\(key)'")
            guard let et = GGUFValueType(rawValue: raw) else {
                throw ModelFormatError.unsupportedValueType(file: file, key: key, type: raw)
            }
            let n = try count("length of array '\(key)'", minimumItemBytes: Self.minimumSize(et))
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(et, key: key, depth: depth + 1)) }
            return .array(et, items)
        }
    }

    static func minimumSize(_ t: GGUFValueType) -> Int {
        switch t {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}
