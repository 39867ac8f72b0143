// 8-bit-activation decode for ggml's K-quants (Q4_K, Q5_K, Q6_K), the
// arithmetic of llama.cpp's ggml_vec_dot_q{4,5,6}_K_q8_K: the activations are
// rounded once per matrix-vector product to Q8_K (one f32 scale per
// 256-element block), every weight·activation product is an integer one,
// summed per 16- or 32-element sub-block, times the sub-block's integer
// scale, and only each 256-block's total is scaled in f32.
//
// The weights stay in ggml's block layout (no re-layout, no extra memory).
// Their 4-bit nibbles are read through 16-bit lanes: lane i of a 32-byte run
// holds bytes 2i and 2i + 1, so one mask or shift yields either the even or
// the odd elements of a 32-element run. The activations are therefore stored
// with every 32-element run split into its 16 even then its 16 odd elements,
// and each lane multiplies an even and an odd pair.

extension GGMLType {
    /// Whether `KQuants` has an 8-bit-activation dot product for the type.
    var hasKQuantInt8Kernel: Bool {
        self == .q4_K || self == .q5_K || self == .q6_K
    }
}

enum KQuants {
    typealias I16 = SIMD16<Int16>
    typealias U16 = SIMD16<UInt16>
    typealias I32 = SIMD8<Int32>

    /// Quantises `x` (`cols`, a multiple of 256) as ggml's quantize_row_q8_K:
    /// per 256-block, with `max` the element of largest magnitude,
    /// q = min(127, nearest(-127 / max · x)) and scale d = 1 / (-127 / max),
    /// so |x - d·q| <= |max| / 254 for every element. `q` gets the values in
    /// the even/odd order described above, `scales` one d per 256-block and
    /// `sums` the integer sum of each 32-element run (Q4_K / Q5_K's minimum
    /// term, llama.cpp's bsums).
    static func quantizeActivations(_ x: UnsafePointer<Float>, cols: Int, into q: UnsafeMutablePointer<Int16>,
                                    scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Int32>) {
        for b in 0..<(cols / 256) {
            let xb = x + 256 * b, qb = q + 256 * b
            var amax: Float = 0, signedMax: Float = 0
            for j in 0..<256 where abs(xb[j]) > amax {
                amax = abs(xb[j])
                signedMax = xb[j]
            }
            guard amax > 0 else {
                scales[b] = 0
                qb.update(repeating: 0, count: 256)
                for r in 0..<8 { sums[8 * b + r] = 0 }
                continue
            }
            let inverse = -127 / signedMax
            for r in 0..<8 {
                var total: Int32 = 0
                for e in 0..<32 {
                    // ggml's nearest_int rounds half to even.
                    let v = Int16(min(127, max(-127, (inverse * xb[32 * r + e]).rounded(.toNearestOrEven))))
                    qb[32 * r + (e % 2) * 16 + e / 2] = v
                    total += Int32(v)
                }
                sums[8 * b + r] = total
            }
            scales[b] = 1 / inverse
        }
    }

    /// Per 16-bit lane products summed in pairs and widened: lane k of the
    /// result is s[2k] + s[2k + 1].
    @inline(__always)
    static func pairSums(_ s: I16) -> I32 {
        let pairs = unsafeBitCast(s, to: I32.self)
        return ((pairs &<< 16) &>> 16) &+ (pairs &>> 16)
    }

    @inline(__always)
    static func signed(_ v: U16) -> I16 { unsafeBitCast(v, to: I16.self) }

    /// Σ over one 32-element run: even weights · even activations + odd · odd.
    /// Weights are at most 63 (or ±32) and activations ±127, so the two
    /// products of a lane fit in 16 bits.
    @inline(__always)
    static func run(_ even: I16, _ odd: I16, _ xr: UnsafeRawPointer) -> I32 {
        pairSums(even &* xr.loadUnaligned(as: I16.self) &+ odd &* xr.loadUnaligned(fromByteOffset: 32, as: I16.self))
    }

    /// Σ row[j] · x[j] over a Q4_K row with Q8_K activations:
    /// Σ_b dx_b · (d_b Σ_s sc_s Σ q·xq - dmin_b Σ_s m_s Σ xq).
    static func dotQ4_K(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                        _ xSums: UnsafePointer<Int32>, cols: Int) -> Float {
        var total: Float = 0
        for b in 0..<(cols / 256) {
            let p = row + 144 * b
            let scales = p + 4, qs = p + 16
            let xb = UnsafeRawPointer(xq + 256 * b)
            var acc = I32()
            var minimum: Int32 = 0
            for g in 0..<4 {
                let (sc1, m1) = GGMLQuants.scaleMinK4(2 * g, scales), (sc2, m2) = GGMLQuants.scaleMinK4(2 * g + 1, scales)
                let w = (qs + 32 * g).loadUnaligned(as: U16.self)
                let low = run(signed(w & 0x0F), signed((w &>> 8) & 0x0F), xb + 128 * g)
                let high = run(signed((w &>> 4) & 0x0F), signed(w &>> 12), xb + 128 * g + 64)
                acc &+= low &* Int32(sc1) &+ high &* Int32(sc2)
                minimum += Int32(m1) * xSums[8 * b + 2 * g] + Int32(m2) * xSums[8 * b + 2 * g + 1]
            }
            let dx = xScales[b]
            total += halfToFloat(p) * dx * Float(acc.wrappedSum()) - halfToFloat(p, 2) * dx * Float(minimum)
        }
        return total
    }

    /// Σ row[j] · x[j] over a Q5_K row with Q8_K activations (Q4_K plus a
    /// fifth bit per weight from the 32 `qh` bytes).
    static func dotQ5_K(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                        _ xSums: UnsafePointer<Int32>, cols: Int) -> Float {
        var total: Float = 0
        for b in 0..<(cols / 256) {
            let p = row + 176 * b
            let scales = p + 4, ql = p + 48
            let h = (p + 16).loadUnaligned(as: U16.self)
            let xb = UnsafeRawPointer(xq + 256 * b)
            var acc = I32()
            var minimum: Int32 = 0
            for g in 0..<4 {
                let (sc1, m1) = GGMLQuants.scaleMinK4(2 * g, scales), (sc2, m2) = GGMLQuants.scaleMinK4(2 * g + 1, scales)
                let w = (ql + 32 * g).loadUnaligned(as: U16.self)
                // Bit 2g of qh byte l is the fifth bit of element 64g + l, bit 2g + 1 that of 64g + 32 + l.
                let s1 = UInt16(2 * g), s2 = UInt16(2 * g + 1)
                let evenLow = (w & 0x0F) | (((h &>> s1) & 1) &<< 4)
                let oddLow = ((w &>> 8) & 0x0F) | (((h &>> (8 + s1)) & 1) &<< 4)
                let evenHigh = ((w &>> 4) & 0x0F) | (((h &>> s2) & 1) &<< 4)
                let oddHigh = (w &>> 12) | (((h &>> (8 + s2)) & 1) &<< 4)
                let low = run(signed(evenLow), signed(oddLow), xb + 128 * g)
                let high = run(signed(evenHigh), signed(oddHigh), xb + 128 * g + 64)
                acc &+= low &* Int32(sc1) &+ high &* Int32(sc2)
                minimum += Int32(m1) * xSums[8 * b + 2 * g] + Int32(m2) * xSums[8 * b + 2 * g + 1]
            }
            let dx = xScales[b]
            total += halfToFloat(p) * dx * Float(acc.wrappedSum()) - halfToFloat(p, 2) * dx * Float(minimum)
        }
        return total
    }

    /// Σ row[j] · x[j] over a Q6_K row with Q8_K activations:
    /// Σ_b d_b · dx_b · Σ_s sc_s Σ (q - 32)·xq over 16-element sub-blocks.
    static func dotQ6_K(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                        cols: Int) -> Float {
        var total: Float = 0
        for b in 0..<(cols / 256) {
            let p = row + 210 * b
            let xb = UnsafeRawPointer(xq + 256 * b)
            var acc = I32()
            for half in 0..<2 {
                let ql = p + 64 * half, sc = p + 192 + 8 * half
                let a = ql.loadUnaligned(as: U16.self), c = (ql + 32).loadUnaligned(as: U16.self)
                let h = (p + 128 + 32 * half).loadUnaligned(as: U16.self)
                // Runs k = 0..3 of this half are elements l + 32k (l < 32): the
                // low nibbles of ql[0..32], of ql[32..64], then their high
                // nibbles, each with two bits of qh[l] on top.
                @inline(__always)
                func sub(_ k: Int, _ even: U16, _ odd: U16) -> I32 {
                    let s = run(signed(even) &- 32, signed(odd) &- 32, xb + 256 * half + 64 * k)
                    // Pair sums 0-3 cover elements 0..15 of the run, 4-7 elements 16..31.
                    let lo = Int32(sc.load(fromByteOffset: 2 * k, as: Int8.self))
                    let hi = Int32(sc.load(fromByteOffset: 2 * k + 1, as: Int8.self))
                    return s &* I32(lowHalf: SIMD4(repeating: lo), highHalf: SIMD4(repeating: hi))
                }
                acc &+= sub(0, (a & 0x0F) | ((h & 3) &<< 4), ((a &>> 8) & 0x0F) | (((h &>> 8) & 3) &<< 4))
                acc &+= sub(1, (c & 0x0F) | (((h &>> 2) & 3) &<< 4), ((c &>> 8) & 0x0F) | (((h &>> 10) & 3) &<< 4))
                acc &+= sub(2, ((a &>> 4) & 0x0F) | (((h &>> 4) & 3) &<< 4), (a &>> 12) | (((h &>> 12) & 3) &<< 4))
                acc &+= sub(3, ((c &>> 4) & 0x0F) | (((h &>> 6) & 3) &<< 4), (c &>> 12) | (((h &>> 14) & 3) &<< 4))
            }
            total += halfToFloat(p, 208) * xScales[b] * Float(acc.wrappedSum())
        }
        return total
    }

    /// One row's dot with activations from `quantizeActivations`.
    @inline(__always)
    static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ xq: UnsafePointer<Int16>, _ xScales: UnsafePointer<Float>,
                    _ xSums: UnsafePointer<Int32>, cols: Int) -> Float {
        switch type {
        case .q4_K: return dotQ4_K(row, xq, xScales, xSums, cols: cols)
        case .q5_K: return dotQ5_K(row, xq, xScales, xSums, cols: cols)
        default: return dotQ6_K(row, xq, xScales, cols: cols)
        }
    }
}
