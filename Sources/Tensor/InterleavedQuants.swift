// Q4_1 and Q8_0 rows re-laid out for 8-lane SIMD decode.
//
// In ggml's blocks, a Q4_1 byte holds elements j and j + 16 and a Q8_0 block
// is 32 bytes in element order. Unpacking either into eight consecutive f32
// lanes needs byte shuffles, which Swift's SIMD types do not express and
// LLVM turned into partly scalar code: a fused kernel on ggml's layout measured
// slower than dequantise-then-dot.
// Here each group of weights is stored as eight u32 lanes in which lane j,
// field k holds element 8k + j: one shift and one mask then give eight
// consecutive elements, which multiply eight consecutive activations.
//
// The layout has exactly the bytes of the original (the f16 scales are
// copied bit for bit after the quants), so memory does not grow, and
// dequantising it gives bit-identical floats.

extension GGMLType {
    /// Elements per interleaved group, or nil when the type has no interleaved form.
    var interleavedGroup: Int? {
        switch self {
        case .q4_1: return 64  // two blocks: 32 bytes of nibbles + d0, m0, d1, m1
        case .q8_0: return 32  // one block: 32 quant bytes + d
        default: return nil
        }
    }
}

enum InterleavedQuants {
    typealias U8 = SIMD8<UInt32>

    /// Bytes per interleaved group (equal to the ggml bytes of its blocks).
    static func groupBytes(_ type: GGMLType) -> Int {
        type == .q4_1 ? 40 : 34
    }

    /// Re-lays one row of `cols` elements from ggml blocks at `src` to `dst`.
    static func interleave(_ type: GGMLType, _ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, cols: Int) {
        switch type {
        case .q4_1:
            for g in 0..<(cols / 64) {
                let out = dst + 40 * g
                for j in 0..<8 {
                    var lane: UInt32 = 0
                    for k in 0..<8 {
                        // Element 8k + j of the group: block k / 4, index e in it.
                        let block = src + 20 * (2 * g + k / 4)
                        let e = 8 * (k % 4) + j
                        let byte = block.load(fromByteOffset: 4 + (e & 15), as: UInt8.self)
                        lane |= UInt32(e < 16 ? byte & 0x0F : byte >> 4) << (4 * UInt32(k))
                    }
                    out.storeBytes(of: lane, toByteOffset: 4 * j, as: UInt32.self)
                }
                // d0, m0, d1, m1 as f16 bits.
                (out + 32).copyMemory(from: src + 20 * (2 * g), byteCount: 4)
                (out + 36).copyMemory(from: src + 20 * (2 * g + 1), byteCount: 4)
            }
        case .q8_0:
            for b in 0..<(cols / 32) {
                let block = src + 34 * b, out = dst + 34 * b
                for j in 0..<8 {
                    var lane: UInt32 = 0
                    for k in 0..<4 {
                        lane |= UInt32(block.load(fromByteOffset: 2 + 8 * k + j, as: UInt8.self)) << (8 * UInt32(k))
                    }
                    out.storeBytes(of: lane, toByteOffset: 4 * j, as: UInt32.self)
                }
                (out + 32).copyMemory(from: block, byteCount: 2)
            }
        default:
            preconditionFailure("no interleaved layout for \(type)")
        }
    }

    /// Dequantises one interleaved row, with ggml's arithmetic (bit-identical).
    static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>, count: Int) {
        switch type {
        case .q4_1:
            for g in 0..<(count / 64) {
                let p = src + 40 * g, o = y + 64 * g
                let w = p.loadUnaligned(as: U8.self)
                for half in 0..<2 {
                    let d = halfToFloat(p, 32 + 4 * half), m = halfToFloat(p, 34 + 4 * half)
                    for k in (4 * half)..<(4 * half + 4) {
                        for j in 0..<8 { o[8 * k + j] = Float((w[j] >> (4 * UInt32(k))) & 0x0F) * d + m }
                    }
                }
            }
        case .q8_0:
            for b in 0..<(count / 32) {
                let p = src + 34 * b, o = y + 32 * b
                let w = p.loadUnaligned(as: U8.self)
                let d = halfToFloat(p, 32)
                for k in 0..<4 {
                    for j in 0..<8 { o[8 * k + j] = Float(Int8(truncatingIfNeeded: w[j] >> (8 * UInt32(k)))) * d }
                }
            }
        default:
            preconditionFailure("no interleaved layout for \(type)")
        }
    }

    /// u32 lanes below 2^23 as floats, exactly, by exponent splicing (Swift's
    /// generic SIMD int->float conversion is an out-of-line call).
    @inline(__always)
    static func smallToFloat(_ v: U8) -> F8 {
        unsafeBitCast(v | 0x4B00_0000, to: F8.self) - 8_388_608
    }

    /// Signed byte `k` of every lane as floats.
    @inline(__always)
    static func signedByteToFloat(_ w: U8, _ k: UInt32) -> F8 {
        let v = unsafeBitCast(w &<< (24 - 8 * k), to: SIMD8<Int32>.self) &>> 24
        return unsafeBitCast(v &+ 0x4B40_0000, to: F8.self) - 12_582_912
    }

    /// acc + a · b. With FMA, the fused form also keeps LLVM from re-associating
    /// these chains into shuffles and scalar adds (measured 2.5x slower); without
    /// FMA the fused form would be a library call per lane.
    @inline(__always)
    static func multiplyAdd(_ acc: F8, _ a: F8, _ b: F8) -> F8 {
        #if LIMRANK_FMA
        return acc.addingProduct(a, b)
        #else
        return acc + a * b
        #endif
    }

    /// Σ row[j] · x[j] over an interleaved Q4_1 row: Σ_b d_b Σ q x + m_b Σ x.
    /// `xSums` holds the 32-element block sums of x.
    @inline(__always)
    static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, cols: Int, xSums: UnsafePointer<Float>) -> Float {
        var acc0 = F8(), acc1 = F8()
        var accM: Float = 0
        for g in 0..<(cols / 64) {
            let p = row + 40 * g
            let w = p.loadUnaligned(as: U8.self)
            let xb = x + 64 * g
            var s0 = smallToFloat(w & 0x0F) * loadF8(xb)
            s0 = multiplyAdd(s0, smallToFloat((w &>> 4) & 0x0F), loadF8(xb + 8))
            s0 = multiplyAdd(s0, smallToFloat((w &>> 8) & 0x0F), loadF8(xb + 16))
            s0 = multiplyAdd(s0, smallToFloat((w &>> 12) & 0x0F), loadF8(xb + 24))
            var s1 = smallToFloat((w &>> 16) & 0x0F) * loadF8(xb + 32)
            s1 = multiplyAdd(s1, smallToFloat((w &>> 20) & 0x0F), loadF8(xb + 40))
            s1 = multiplyAdd(s1, smallToFloat((w &>> 24) & 0x0F), loadF8(xb + 48))
            s1 = multiplyAdd(s1, smallToFloat(w &>> 28), loadF8(xb + 56))
            acc0 = multiplyAdd(acc0, F8(repeating: halfToFloat(p, 32)), s0)
            acc1 = multiplyAdd(acc1, F8(repeating: halfToFloat(p, 36)), s1)
            accM += halfToFloat(p, 34) * xSums[2 * g] + halfToFloat(p, 38) * xSums[2 * g + 1]
        }
        return (acc0 + acc1).sum() + accM
    }

    /// d · Σ q x for the interleaved Q8_0 block at `p` and its 32 activations.
    @inline(__always)
    static func blockQ8_0(_ p: UnsafeRawPointer, _ xb: UnsafePointer<Float>, into acc: F8) -> F8 {
        let w = p.loadUnaligned(as: U8.self)
        var s = signedByteToFloat(w, 0) * loadF8(xb)
        s = multiplyAdd(s, signedByteToFloat(w, 1), loadF8(xb + 8))
        s = multiplyAdd(s, signedByteToFloat(w, 2), loadF8(xb + 16))
        s = multiplyAdd(s, signedByteToFloat(w, 3), loadF8(xb + 24))
        return multiplyAdd(acc, F8(repeating: halfToFloat(p, 32)), s)
    }

    /// Σ row[j] · x[j] over an interleaved Q8_0 row.
    @inline(__always)
    static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, cols: Int) -> Float {
        var acc0 = F8(), acc1 = F8()
        var b = 0
        let blocks = cols / 32
        // Two blocks per step keeps two independent accumulation chains.
        while b + 2 <= blocks {
            acc0 = blockQ8_0(row + 34 * b, x + 32 * b, into: acc0)
            acc1 = blockQ8_0(row + 34 * (b + 1), x + 32 * (b + 1), into: acc1)
            b += 2
        }
        if b < blocks { acc0 = blockQ8_0(row + 34 * b, x + 32 * b, into: acc0) }
        return (acc0 + acc1).sum()
    }
}
