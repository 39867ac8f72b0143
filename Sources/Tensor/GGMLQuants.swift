// Byte-exact ggml block layouts (ggml-common.h / ggml-quants.c), read with
// the same f32 operation order as ggml's dequantize_row_* and the gguf
// Python package, so dequantised values are bit-identical.

@inline(__always)
func halfToFloat(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
    halfBitsToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

/// IEEE half -> float, exact for every input. With F16C (or on arm64)
/// `Float(Float16)` is one instruction; on x86 without F16C it compiles to a
/// ~12 ns library call, so there this is a few instructions instead:
/// shifting exponent+mantissa into place and scaling by 2^112 rebiases the
/// exponent and normalises subnormals in one exact multiply.
@inline(__always)
func halfBitsToFloat(_ b: UInt16) -> Float {
    #if LIMRANK_F16C || arch(arm64)
    return Float(Float16(bitPattern: b))
    #else
    let em = UInt32(b & 0x7FFF) << 13
    var f = Float(bitPattern: em) * 0x1p112
    if b & 0x7C00 == 0x7C00 { f = Float(bitPattern: em | 0x7F80_0000) }  // inf / NaN
    return Float(bitPattern: f.bitPattern | (UInt32(b & 0x8000) << 16))
    #endif
}

@inline(__always)
func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Block dequantisers and dot products over rows of ggml blocks.
public enum GGMLQuants {
    /// Dequantises `count` elements (a whole number of blocks) starting at `src`.
    /// Types without a dequantiser write nothing; `QuantizedMatrix` rejects them up front.
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>, count: Int) {
        let nb = count / type.blockSize
        switch type {
        case .f32:
            UnsafeMutableRawPointer(y).copyMemory(from: src, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { y[i] = halfToFloat(src, 2 * i) }
        case .bf16:
            for i in 0..<count { y[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q4_0:
            for b in 0..<nb {
                let p = src + b * 18, o = y + b * 32
                let d = halfToFloat(p)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                    o[j] = Float(Int(q & 0x0F) - 8) * d
                    o[j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<nb {
                let p = src + b * 20, o = y + b * 32
                let d = halfToFloat(p), m = halfToFloat(p, 2)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                    o[j] = Float(q & 0x0F) * d + m
                    o[j + 16] = Float(q >> 4) * d + m
                }
            }
        case .q5_0:
            for b in 0..<nb {
                let p = src + b * 22, o = y + b * 32
                let d = halfToFloat(p)
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                for j in 0..<16 {
                    let q = UInt32(p.load(fromByteOffset: 6 + j, as: UInt8.self))
                    let h0 = ((qh >> UInt32(j)) << 4) & 0x10
                    let h1 = (qh >> UInt32(j + 12)) & 0x10
                    o[j] = Float(Int32((q & 0x0F) | h0) - 16) * d
                    o[j + 16] = Float(Int32((q >> 4) | h1) - 16) * d
                }
            }
        case .q5_1:
            for b in 0..<nb {
                let p = src + b * 24, o = y + b * 32
                let d = halfToFloat(p), m = halfToFloat(p, 2)
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                for j in 0..<16 {
                    let q = UInt32(p.load(fromByteOffset: 8 + j, as: UInt8.self))
                    let h0 = ((qh >> UInt32(j)) << 4) & 0x10
                    let h1 = (qh >> UInt32(j + 12)) & 0x10
                    o[j] = Float((q & 0x0F) | h0) * d + m
                    o[j + 16] = Float((q >> 4) | h1) * d + m
                }
            }
        case .q8_0:
            for b in 0..<nb {
                let p = src + b * 34, o = y + b * 32
                let d = halfToFloat(p)
                for j in 0..<32 { o[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
            }
        case .q8_1:
            for b in 0..<nb {
                let p = src + b * 40, o = y + b * 32
                let d = p.loadUnaligned(as: Float.self)
                for j in 0..<32 { o[j] = Float(p.load(fromByteOffset: 8 + j, as: Int8.self)) * d }
            }
        case .q4_K:
            for b in 0..<nb {
                let p = src + b * 144, o = y + b * 256
                let d = halfToFloat(p), dmin = halfToFloat(p, 2)
                let scales = p + 4, qs = p + 16
                for g in 0..<4 {
                    let (sc1, m1) = scaleMinK4(2 * g, scales), (sc2, m2) = scaleMinK4(2 * g + 1, scales)
                    let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                    let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let q = qs.load(fromByteOffset: 32 * g + l, as: UInt8.self)
                        o[64 * g + l] = d1 * Float(q & 0x0F) - mm1
                        o[64 * g + 32 + l] = d2 * Float(q >> 4) - mm2
                    }
                }
            }
        case .q5_K:
            for b in 0..<nb {
                let p = src + b * 176, o = y + b * 256
                let d = halfToFloat(p), dmin = halfToFloat(p, 2)
                let scales = p + 4, qh = p + 16, ql = p + 48
                for g in 0..<4 {
                    let (sc1, m1) = scaleMinK4(2 * g, scales), (sc2, m2) = scaleMinK4(2 * g + 1, scales)
                    let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                    let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                    let u1 = UInt8(1) << UInt8(2 * g), u2 = UInt8(2) << UInt8(2 * g)
                    for l in 0..<32 {
                        let q = ql.load(fromByteOffset: 32 * g + l, as: UInt8.self)
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        o[64 * g + l] = d1 * Float((q & 0x0F) + (h & u1 != 0 ? 16 : 0)) - mm1
                        o[64 * g + 32 + l] = d2 * Float((q >> 4) + (h & u2 != 0 ? 16 : 0)) - mm2
                    }
                }
            }
        case .q6_K:
            for b in 0..<nb {
                let p = src + b * 210, o = y + b * 256
                let ql = p, qh = p + 128, sc = p + 192
                let d = halfToFloat(p, 208)
                for half in 0..<2 {
                    let ql2 = ql + 64 * half, qh2 = qh + 32 * half, sc2 = sc + 8 * half, o2 = o + 128 * half
                    for l in 0..<32 {
                        let s = l / 16
                        let a = ql2.load(fromByteOffset: l, as: UInt8.self)
                        let c = ql2.load(fromByteOffset: l + 32, as: UInt8.self)
                        let h = qh2.load(fromByteOffset: l, as: UInt8.self)
                        let q1 = Int((a & 0x0F) | ((h & 3) << 4)) - 32
                        let q2 = Int((c & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                        let q3 = Int((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                        let q4 = Int((c >> 4) | (((h >> 6) & 3) << 4)) - 32
                        o2[l] = d * Float(sc2.load(fromByteOffset: s, as: Int8.self)) * Float(q1)
                        o2[l + 32] = d * Float(sc2.load(fromByteOffset: s + 2, as: Int8.self)) * Float(q2)
                        o2[l + 64] = d * Float(sc2.load(fromByteOffset: s + 4, as: Int8.self)) * Float(q3)
                        o2[l + 96] = d * Float(sc2.load(fromByteOffset: s + 6, as: Int8.self)) * Float(q4)
                    }
                }
            }
        default:
            break
        }
    }

    /// ggml's get_scale_min_k4: 6-bit scale and min number `j` of 8, packed in 12 bytes.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func at(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 {
            return (at(j) & 63, at(j + 4) & 63)
        }
        return ((at(j + 4) & 0x0F) | ((at(j - 4) >> 6) << 4), (at(j + 4) >> 4) | ((at(j) >> 6) << 4))
    }

    // MARK: Row dot products (decode)

    /// Per-32-element sums of x, for the "+ m" term of Q4_1/Q5_1 blocks.
    static func blockSums(_ x: UnsafePointer<Float>, count: Int, into s: UnsafeMutablePointer<Float>) {
        for b in 0..<(count / 32) { s[b] = sum8(x + 32 * b, 32) }
    }

    /// Floats of L1 scratch `dot` needs: a whole row when it is small.
    static func scratchElements(_ type: GGMLType, cols: Int) -> Int {
        max(type.blockSize, min(cols, 2048) / type.blockSize * type.blockSize)
    }

    /// Σ row[j] · x[j] for one row of `cols` elements of `type` in ggml's
    /// layout, with f32 activations. (Q4_1 and Q8_0 decode goes through
    /// `InterleavedQuants` instead; this is the path for every other type.)
    @inline(__always)
    static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, cols: Int,
                    scratch: UnsafeMutablePointer<Float>) -> Float {
        switch type {
        case .f32:
            return dot8(row.assumingMemoryBound(to: Float.self), x, cols)
        default:
            // Other types: dequantise one block group at a time into L1 scratch.
            let chunk = scratchElements(type, cols: cols)
            var acc: Float = 0
            var c = 0
            while c < cols {
                let n = min(chunk, cols - c)
                dequantize(type, row + c / type.blockSize * type.bytesPerBlock, into: scratch, count: n)
                acc += dot8(scratch, x + c, n)
                c += n
            }
            return acc
        }
    }
}
