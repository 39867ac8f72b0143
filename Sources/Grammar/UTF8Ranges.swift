/// Code point ranges as sequences of byte ranges, so that a character class
/// over Unicode becomes a byte-level automaton (the construction of RE2 and
/// Rust's regex-syntax): each returned sequence matches exactly the UTF-8
/// encodings of one sub-range.
enum UTF8Ranges {
    static let surrogates: ClosedRange<UInt32> = 0xD800...0xDFFF
    /// Every Unicode scalar (`.` in GBNF).
    static let allScalars: [ClosedRange<UInt32>] = [0...0xD7FF, 0xE000...0x10FFFF]

    /// Sorted, merged, clipped to scalars (surrogates and > U+10FFFF removed).
    static func normalize(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var pieces: [ClosedRange<UInt32>] = []
        for r in ranges {
            let upper = min(r.upperBound, 0x10FFFF)
            guard r.lowerBound <= upper else { continue }
            if r.lowerBound < surrogates.lowerBound, upper > surrogates.upperBound {
                pieces.append(r.lowerBound...surrogates.lowerBound - 1)
                pieces.append(surrogates.upperBound + 1...upper)
            } else if r.lowerBound >= surrogates.lowerBound, upper <= surrogates.upperBound {
                continue
            } else if r.lowerBound >= surrogates.lowerBound, r.lowerBound <= surrogates.upperBound {
                pieces.append(surrogates.upperBound + 1...upper)
            } else if upper >= surrogates.lowerBound, upper <= surrogates.upperBound {
                pieces.append(r.lowerBound...surrogates.lowerBound - 1)
            } else {
                pieces.append(r.lowerBound...upper)
            }
        }
        pieces.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for p in pieces {
            if let last = merged.last, p.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, p.upperBound)
            } else {
                merged.append(p)
            }
        }
        return merged
    }

    /// The scalars not in `ranges` (which must be normalized).
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.append(next...r.lowerBound - 1) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return normalize(out)
    }

    /// Byte-range sequences whose union is exactly the UTF-8 encodings of `ranges`.
    static func sequences(_ ranges: [ClosedRange<UInt32>]) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        for r in normalize(ranges) { split(r.lowerBound, r.upperBound, into: &out) }
        return out
    }

    private static let lengthLimits: [UInt32] = [0x7F, 0x7FF, 0xFFFF, 0x10FFFF]

    private static func split(_ low: UInt32, _ high: UInt32, into out: inout [[ClosedRange<UInt8>]]) {
        // Same encoded length at both ends.
        for limit in lengthLimits.dropLast() where low <= limit && high > limit {
            split(low, limit, into: &out)
            split(limit + 1, high, into: &out)
            return
        }
        if high <= 0x7F {
            out.append([UInt8(low)...UInt8(high)])
            return
        }
        // Split until every continuation byte spans its whole range or a
        // single value, so the sequence is a product of byte ranges.
        for i in 1..<4 {
            let mask: UInt32 = (1 << (6 * UInt32(i))) - 1
            if low & ~mask != high & ~mask {
                if low & mask != 0 {
                    split(low, low | mask, into: &out)
                    split((low | mask) + 1, high, into: &out)
                    return
                }
                if high & mask != mask {
                    split(low, (high & ~mask) - 1, into: &out)
                    split(high & ~mask, high, into: &out)
                    return
                }
            }
        }
        let a = encode(low), b = encode(high)
        out.append(zip(a, b).map { $0...$1 })
    }

    static func encode(_ value: UInt32) -> [UInt8] {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        return Array(String(Character(scalar)).utf8)
    }
}
