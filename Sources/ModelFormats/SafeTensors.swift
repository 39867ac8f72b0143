import Foundation
import Tensor

/// Element types a safetensors file may declare; all convert to f32 on read.
public enum SafeTensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// A memory-mapped safetensors file: an 8-byte little-endian header length,
/// a JSON header {name: {dtype, shape, data_offsets}}, then the raw data.
public struct SafeTensors: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Absolute byte range in the file.
        public let byteRange: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    /// The free-form "__metadata__" strings.
    public let metadata: [String: String]
    private let storage: ByteStorage

    public init(contentsOf url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        self.path = path
        storage = try mapFile(path)
        let bytes = storage.bytes
        guard bytes.count >= 8 else { throw ModelFormatError.truncated(file: path, what: "header length", offset: 0) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw ModelFormatError.truncated(file: path, what: "JSON header of \(headerLength) bytes", offset: 8)
        }
        let dataStart = 8 + Int(headerLength)
        let json = Data(bytes[8..<dataStart])
        guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
            throw ModelFormatError.invalidHeader(file: path, what: "JSON header", reason: "not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw ModelFormatError.invalidHeader(file: path, what: "__metadata__", reason: "not an object")
                }
                for (k, v) in m { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            func bad(_ reason: String) -> ModelFormatError {
                .invalidHeader(file: path, what: "entry for tensor '\(name)'", reason: reason)
            }
            guard let info = value as? [String: Any] else { throw bad("not an object") }
            guard let dt = info["dtype"] as? String else { throw bad("missing dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dt) else {
                throw ModelFormatError.unsupportedTensorType(file: path, tensor: name, type: dt)
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = Self.ints(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("shape is not a list of non-negative integers")
            }
            guard let offAny = info["data_offsets"] as? [Any], let off = Self.ints(offAny), off.count == 2,
                  off[0] >= 0, off[0] <= off[1] else {
                throw bad("data_offsets is not [begin, end]")
            }
            let range = (dataStart + off[0])..<(dataStart + off[1])
            guard range.upperBound <= bytes.count else {
                throw ModelFormatError.tensorOutOfBounds(file: path, tensor: name, range: range, fileSize: bytes.count)
            }
            var needed: Int? = dtype.byteSize
            for n in shape {
                let (product, overflow) = needed?.multipliedReportingOverflow(by: n) ?? (0, true)
                needed = overflow ? nil : product
            }
            guard let needed, needed == range.count else {
                throw ModelFormatError.shapeMismatch(
                    file: path, tensor: name,
                    reason: "shape \(shape) of \(dt) needs \(needed.map { "\($0) bytes" } ?? "more bytes than a file holds"), data_offsets give \(range.count)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, byteRange: range)
        }
        // As the safetensors library validates: the tensors' bytes tile the
        // data section, no overlap (one tensor reading another's bytes after
        // a corrupted offset), no hole and nothing after the last.
        var end = dataStart
        for e in entries.values.sorted(by: { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }) {
            guard e.byteRange.lowerBound == end else {
                throw ModelFormatError.invalidHeader(
                    file: path, what: "data_offsets of tensor '\(e.name)'",
                    reason: "it begins at \(e.byteRange.lowerBound - dataStart), where the tensors before it end at \(end - dataStart) (the data must be contiguous)")
            }
            end = e.byteRange.upperBound
        }
        guard end == bytes.count else {
            throw ModelFormatError.invalidHeader(
                file: path, what: "data section", reason: "\(bytes.count - end) bytes follow the last tensor's data")
        }
        self.entries = entries
        self.metadata = metadata
    }

    private static func ints(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in a {
            // JSONSerialization gives NSNumber; reject non-integral values.
            guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) else { return nil }
            out.append(i)
        }
        return out
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    public func entry(named name: String) throws -> Entry {
        guard let e = entries[name] else { throw ModelFormatError.missingTensor(file: path, tensor: name) }
        return e
    }

    /// The tensor converted to f32, in its declared (row-major) shape.
    public func tensor(named name: String) throws -> Tensor {
        let e = try entry(named: name)
        let n = e.shape.reduce(1, *)
        let src = storage.baseAddress + e.byteRange.lowerBound
        return Tensor(shape: e.shape) { out in
            let o = out.baseAddress!
            switch e.dtype {
            case .f32: UnsafeMutableRawPointer(o).copyMemory(from: src, byteCount: 4 * n)
            case .f16: GGMLQuants.dequantize(.f16, src, into: o, count: n)
            case .bf16: GGMLQuants.dequantize(.bf16, src, into: o, count: n)
            case .f64: for i in 0..<n { o[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .i64: for i in 0..<n { o[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32: for i in 0..<n { o[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .i16: for i in 0..<n { o[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
            case .i8: for i in 0..<n { o[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool: for i in 0..<n { o[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
            }
        }
    }
}
