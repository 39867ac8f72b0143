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

    /// Σ row[j] · x[j] over an interleaved Q4_1 row: Σ_b d_b Σ q x + m_b Σ x.
    /// `xSums` holds the 32-element block sums of x.
    @inline(__always)
    static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, cols: Int, xSums: UnsafePointer<Float>) -> Float {
        var acc0 = F8(), acc1 = F8()
        var accM = SIMD2<Float>()
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
            let dm = halves4(p + 32)  // d0, m0, d1, m1
            acc0 = multiplyAdd(acc0, F8(repeating: dm[0]), s0)
            acc1 = multiplyAdd(acc1, F8(repeating: dm[2]), s1)
            accM.addProduct(SIMD2(dm[1], dm[3]), UnsafeRawPointer(xSums + 2 * g).loadUnaligned(as: SIMD2<Float>.self))
        }
        return (acc0 + acc1).sum() + accM.sum()
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

// MARK: - 8-bit activations (llama.cpp's decode arithmetic)

/// How a decode step (one or two activation rows) multiplies quantised weights.
public enum ActivationPrecision: String, Sendable, CaseIterable {
    /// f32 activations times dequantised weights: matches transformers on the
    /// dequantised GGUF (the parity tests' 1e-3 on logits).
    case float32 = "f32"
    /// Activations rounded to 8 bits per 32-element block (scale amax/127),
    /// as llama.cpp's Q8_1 does, then integer products with Q4_1 weights:
    /// 16 products per vector instruction instead of 8, about 1.6x the kernel's
    /// speed, at a block-relative rounding error of 1/254 on each activation.
    /// Q8_0 weights (SmolLM2's embedding / LM head) get the same treatment;
    /// Q4_K / Q5_K / Q6_K use llama.cpp's Q8_K activations instead (one
    /// scale per 256 elements, see `KQuants`); Q4_0 and Q5_0 get llama.cpp's
    /// Q8_0 activations where the build has x86's byte kernels (AVX2); other
    /// weight types keep f32 activations.
    case int8
}

extension InterleavedQuants {
    /// Quantises `x` (`cols`, a multiple of 64) for `dotQ4_1Int8`: per 32-block
    /// scale `scales[b]` = amax/127 and values round(x / scale) stored as Int16
    /// in the order the kernel's 16-lane view of an interleaved group reads
    /// them: step t, lane 2j -> element 8t + j, lane 2j + 1 -> 32 + 8t + j.
    /// For Q8_0 (`dotQ8_0Int8`) each 32-block holds first the activations
    /// of the block's even bytes, then of its odd bytes: byte β = 4j + k
    /// (element 8k + j) at 16 · (β % 2) + β / 2.
    ///
    /// `sums[b]` gets the block's sum as rounded (scale · Σ values): Q4_1's
    /// offset term must use the same rounded activations as the products.
    /// Then the total error is Σ w · (x̂ - x) with w = d·q + m centred near 0;
    /// with the exact Σx it was Σ d·q · (x̂ - x), whose all-positive d·q made
    /// the model's logits noisier (measured 1.91 off transformers, 0.76 with
    /// the rounded sums, llama.cpp 0.62; llama.cpp's Q8_1 keeps this sum too).
    static func quantizeActivations(_ x: UnsafePointer<Float>, cols: Int, for type: GGMLType,
                                    into q: UnsafeMutablePointer<Int16>, scales: UnsafeMutablePointer<Float>,
                                    sums: UnsafeMutablePointer<Float>) {
        roundActivations(x, cols: cols, scales: scales, sums: sums) { b, e, value in
            let k = e / 8, j = e % 8
            if type == .q4_1 {
                q[64 * (b / 2) + 16 * k + 2 * j + b % 2] = value
            } else {
                let byte = 4 * j + k
                q[32 * b + 16 * (byte % 2) + byte / 2] = value
            }
        }
    }

    /// The same rounded activations as bytes, ordered for the byte kernels
    /// (`dotQ4_1Bytes`, `dotQ8_0Bytes`): each weight byte's activation at the
    /// byte's own offset. Q8_0: byte 4j + k holds element 8k + j. Q4_1: the
    /// group's byte 4j + h holds elements 16h + j (low nibble, activations
    /// 0 ..< 32) and 16h + 8 + j (high nibble, activations 32 ..< 64).
    /// Rows in ggml's layout (`interleaved` false: Q4_0, Q5_0) read them in
    /// element order.
    static func quantizeActivationBytes(_ x: UnsafePointer<Float>, cols: Int, for type: GGMLType, interleaved: Bool,
                                        into q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                        sums: UnsafeMutablePointer<Float>) {
        roundActivations(x, cols: cols, scales: scales, sums: sums) { b, e, value in
            if !interleaved {
                q[32 * b + e] = Int8(value)
            } else if type == .q4_1 {
                let element = 32 * (b % 2) + e, h = element / 16, r = element % 16
                q[64 * (b / 2) + (r < 8 ? 0 : 32) + 4 * (r % 8) + h] = Int8(value)
            } else {
                q[32 * b + 4 * (e % 8) + e / 8] = Int8(value)
            }
        }
    }

    @inline(__always)
    private static func roundActivations(_ x: UnsafePointer<Float>, cols: Int, scales: UnsafeMutablePointer<Float>,
                                         sums: UnsafeMutablePointer<Float>, store: (Int, Int, Int16) -> Void) {
        for b in 0..<(cols / 32) {
            let xb = x + 32 * b
            var amax: Float = 0
            for e in 0..<32 { amax = max(amax, abs(xb[e])) }
            let d = amax / 127
            let inverse: Float = d > 0 ? 1 / d : 0
            scales[b] = d
            var total = 0
            for e in 0..<32 {
                // Same rounding as ggml (roundf: halves away from zero); |value| <= 127.
                let value = Int16((xb[e] * inverse).rounded())
                total += Int(value)
                store(b, e, value)
            }
            sums[b] = d * Float(total)
        }
    }

    /// Σ row[j] · x[j] over an interleaved Q4_1 row with 8-bit activations:
    /// Σ_b d_b · dx_b · Σ q·xq + m_b · dx_b · Σ xq. Products are at most 15 · 127 and
    /// four of them are summed per 16-bit lane, so nothing overflows.
    @inline(__always)
    static func dotQ4_1Int8(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                            cols: Int, xSums: UnsafePointer<Float>) -> Float {
        typealias I16 = SIMD16<Int16>
        var acc = F8()
        var accM = SIMD2<Float>()
        for g in 0..<(cols / 64) {
            let p = row + 40 * g
            let w = p.loadUnaligned(as: SIMD16<UInt16>.self)
            let xb = UnsafeRawPointer(xq + 64 * g)
            var s = unsafeBitCast(w & 0x0F, to: I16.self) &* xb.loadUnaligned(as: I16.self)
            s &+= unsafeBitCast((w &>> 4) & 0x0F, to: I16.self) &* xb.loadUnaligned(fromByteOffset: 32, as: I16.self)
            s &+= unsafeBitCast((w &>> 8) & 0x0F, to: I16.self) &* xb.loadUnaligned(fromByteOffset: 64, as: I16.self)
            s &+= unsafeBitCast(w &>> 12, to: I16.self) &* xb.loadUnaligned(fromByteOffset: 96, as: I16.self)
            addQ4_1Group(unsafeBitCast(s, to: SIMD8<Int32>.self), halves4(p + 32), scales: xScales + 2 * g,
                         sums: xSums + 2 * g, &acc, &accM)
        }
        return acc.sum() + accM.sum()
    }

    /// A Q4_1 group's integer lanes (even 16-bit halves: block 2g's partial
    /// sums, odd halves: block 2g + 1's) scaled into the accumulators, with
    /// the offset term m · Σx; `dm` is the group's d0, m0, d1, m1, `scales`
    /// and `sums` the activations' two block scales and sums. Every Q4_1
    /// 8-bit kernel ends its group here, so all agree bit for bit.
    @inline(__always)
    static func addQ4_1Group(_ pairs: SIMD8<Int32>, _ dm: SIMD4<Float>, scales: UnsafePointer<Float>,
                             sums: UnsafePointer<Float>, _ acc: inout F8, _ accM: inout SIMD2<Float>) {
        let even = F8((pairs &<< 16) &>> 16), odd = F8(pairs &>> 16)
        acc = multiplyAdd(acc, even, F8(repeating: dm[0] * scales[0]))
        acc = multiplyAdd(acc, odd, F8(repeating: dm[2] * scales[1]))
        accM.addProduct(SIMD2(dm[1], dm[3]), UnsafeRawPointer(sums).loadUnaligned(as: SIMD2<Float>.self))
    }

    /// Σ row[j] · x[j] over an interleaved Q8_0 row with 8-bit activations:
    /// Σ_b d_b · dx_b · Σ q·xq. A product is at most 128 · 127 in magnitude and
    /// two are summed per 16-bit lane before widening, so nothing overflows.
    @inline(__always)
    static func dotQ8_0Int8(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                            cols: Int) -> Float {
        typealias I16 = SIMD16<Int16>
        @inline(__always)
        func block(_ b: Int) -> (F8, Float) {
            let p = row + 34 * b
            let xb = UnsafeRawPointer(xq + 32 * b)
            // Even and odd bytes, sign-extended by shifts (the generic SIMD
            // conversion is an out-of-line call).
            let w = p.loadUnaligned(as: I16.self)
            let even = (w &<< 8) &>> 8, odd = w &>> 8
            let s = even &* xb.loadUnaligned(as: I16.self) &+ odd &* xb.loadUnaligned(fromByteOffset: 32, as: I16.self)
            let pairs = unsafeBitCast(s, to: SIMD8<Int32>.self)
            return (F8(((pairs &<< 16) &>> 16) &+ (pairs &>> 16)), halfToFloat(p, 32) * xScales[b])
        }
        return sumOfScaledBlocks(cols / 32, block)
    }

    /// Σ_b scale_b · sums_b over `blocks` blocks, where `block(b)` gives a
    /// 32-block's eight integer partial sums (as floats) and its scale: even
    /// blocks into one accumulator, odd into another (two independent FMA
    /// chains), added at the end. Every 8-bit kernel sums in this order, so
    /// the portable and the byte kernels agree bit for bit.
    @inline(__always)
    static func sumOfScaledBlocks(_ blocks: Int, _ block: (Int) -> (F8, Float)) -> Float {
        var acc0 = F8(), acc1 = F8()
        var b = 0
        while b + 2 <= blocks {
            let (s0, d0) = block(b), (s1, d1) = block(b + 1)
            acc0 = multiplyAdd(acc0, s0, F8(repeating: d0))
            acc1 = multiplyAdd(acc1, s1, F8(repeating: d1))
            b += 2
        }
        if b < blocks {
            let (s0, d0) = block(b)
            acc0 = multiplyAdd(acc0, s0, F8(repeating: d0))
        }
        return (acc0 + acc1).sum()
    }

    /// Four consecutive IEEE halves as floats, exactly.
    @inline(__always)
    static func halves4(_ p: UnsafeRawPointer) -> SIMD4<Float> {
        #if LIMRANK_F16C || arch(arm64)
        // One 8-byte load and one vcvtph2ps, instead of four lane inserts.
        return SIMD4<Float>(p.loadUnaligned(as: SIMD4<Float16>.self))
        #else
        return SIMD4(halfToFloat(p, 0), halfToFloat(p, 2), halfToFloat(p, 4), halfToFloat(p, 6))
        #endif
    }
}
