import Tensor

/// Everything that can be wrong with a model file. Every case names the file
/// and, where there is one, the metadata key or tensor.
public enum ModelFormatError: Error, Equatable, CustomStringConvertible {
    case io(file: String, reason: String)
    /// The file ends before `what` could be read (at byte `offset`).
    case truncated(file: String, what: String, offset: Int)
    case badMagic(file: String, found: String)
    case unsupportedVersion(file: String, version: Int)
    /// A malformed header field (safetensors JSON, GGUF counts, alignment).
    case invalidHeader(file: String, what: String, reason: String)
    case unsupportedValueType(file: String, key: String, type: UInt32)
    case unsupportedTensorType(file: String, tensor: String, type: String)
    /// The tensor's bytes lie (partly) outside the file's data section.
    case tensorOutOfBounds(file: String, tensor: String, range: Range<Int>, fileSize: Int)
    case shapeMismatch(file: String, tensor: String, reason: String)
    case missingTensor(file: String, tensor: String)
    case missingKey(file: String, key: String)
    case wrongValueType(file: String, key: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .io(f, r): return "\(f): \(r)"
        case let .truncated(f, w, o): return "\(f): truncated while reading \(w) at byte \(o)"
        case let .badMagic(f, m): return "\(f): not a GGUF file (magic \(m))"
        case let .unsupportedVersion(f, v): return "\(f): unsupported GGUF version \(v) (2 and 3 are)"
        case let .invalidHeader(f, w, r): return "\(f): invalid \(w): \(r)"
        case let .unsupportedValueType(f, k, t): return "\(f): metadata key '\(k)' has unknown value type \(t)"
        case let .unsupportedTensorType(f, t, ty): return "\(f): tensor '\(t)' has unsupported type \(ty)"
        case let .tensorOutOfBounds(f, t, r, s): return "\(f): tensor '\(t)' bytes \(r) lie outside the file (\(s) bytes)"
        case let .shapeMismatch(f, t, r): return "\(f): tensor '\(t)': \(r)"
        case let .missingTensor(f, t): return "\(f): no tensor named '\(t)'"
        case let .missingKey(f, k): return "\(f): no metadata key '\(k)'"
        case let .wrongValueType(f, k, e, found): return "\(f): metadata key '\(k)' is \(found), expected \(e)"
        }
    }
}

extension ModelFormatError {
    static func from(_ e: TensorError, file: String, tensor: String) -> ModelFormatError {
        switch e {
        case let .unsupportedType(t, _): return .unsupportedTensorType(file: file, tensor: tensor, type: t.description)
        case let .io(_, r): return .io(file: file, reason: r)
        default: return .shapeMismatch(file: file, tensor: tensor, reason: e.description)
        }
    }
}

/// Maps a file, turning the Tensor layer's error into this layer's.
func mapFile(_ path: String) throws -> ByteStorage {
    do {
        return try ByteStorage(mappingFileAt: path)
    } catch {
        throw ModelFormatError.io(file: path, reason: error.description)
    }
}
