/// Errors from the Tensor layer: raw bytes that do not describe the matrix
/// they claim to, and files that cannot be mapped.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// The ggml type has no dequantiser here.
    case unsupportedType(GGMLType, context: String)
    /// Columns must be a whole number of quantisation blocks.
    case columnsNotBlockAligned(cols: Int, blockSize: Int, type: GGMLType, context: String)
    /// The bytes available do not cover the matrix.
    case byteCountMismatch(expected: Int, available: Int, context: String)
    case shapeMismatch(String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupportedType(t, ctx): return "\(ctx): ggml type \(t) is not supported"
        case let .columnsNotBlockAligned(c, b, t, ctx): return "\(ctx): \(c) columns is not a multiple of the \(t) block size \(b)"
        case let .byteCountMismatch(e, a, ctx): return "\(ctx): needs \(e) bytes, \(a) available"
        case let .shapeMismatch(s): return "shape mismatch: \(s)"
        case let .io(p, r): return "\(p): \(r)"
        }
    }
}
