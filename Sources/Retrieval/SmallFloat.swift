/// Lucene's one-byte document-length norm (`org.apache.lucene.util.SmallFloat`,
/// `intToByte4` / `byte4ToInt`), which `BM25Similarity` stores for every
/// document and decodes through a 256-entry table. Lengths below 40 are
/// exact; above, a length decodes to the largest representable value not
/// above it (4 significant bits), so e.g. 100 terms read as 96.
enum SmallFloat {
    /// Byte values below this encode the length itself (24).
    static let freeValues = 255 - longToInt4(Int64(Int32.max))

    /// Encodes a non-negative length; negative input is treated as 0.
    static func intToByte4(_ length: Int) -> UInt8 {
        let i = max(0, min(length, Int(Int32.max)))
        if i < freeValues { return UInt8(i) }
        return UInt8(freeValues + longToInt4(Int64(i - freeValues)))
    }

    static func byte4ToInt(_ byte: UInt8) -> Int {
        let i = Int(byte)
        if i < freeValues { return i }
        return Int(min(Int64(freeValues) + int4ToLong(i - freeValues), Int64(Int32.max)))
    }

    /// `BM25Similarity.LENGTH_TABLE`: the length each norm byte stands for.
    static let lengthTable: [Float] = (0..<256).map { Float(byte4ToInt(UInt8($0))) }

    /// Three mantissa bits and an exponent, the leading 1 implicit.
    static func longToInt4(_ value: Int64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        if bits < 4 { return Int(value) }
        let shift = bits - 4
        let mantissa = Int(value >> Int64(shift)) & 0x07
        return mantissa | ((shift + 1) << 3)
    }

    static func int4ToLong(_ value: Int) -> Int64 {
        let mantissa = Int64(value & 0x07)
        let shift = (value >> 3) - 1
        return shift == -1 ? mantissa : (mantissa | 0x08) << Int64(shift)
    }
}
