// 8-bit decode dots with x86's byte-multiply instructions.
//
// Swift's SIMD types have no unsigned x signed byte multiply, so the portable
// int8 kernels (`dotQ4_1Int8`, `dotQ8_0Int8`) widen every weight and
// activation to 16 bits and multiply with `vpmullw`: 16 products per
// instruction and twice the activation bytes. `vpmaddubsw` multiplies 32 byte
// pairs and adds neighbours in one instruction (llama.cpp's AVX2 kernels are
// built on it), and clang's intrinsics are importable from Swift. The integer
// sums land in the same lanes as the portable kernels' (each 16-bit lane
// covers the same weight bytes), so the results are bit-identical to them;
// only the activations' byte order differs (`quantizeActivationBytes`).

#if LIMRANK_AVX2
import _Builtin_intrinsics.intel

extension InterleavedQuants {
    typealias I32x8 = SIMD8<Int32>

    @inline(__always)
    static func load256(_ p: UnsafeRawPointer) -> __m256i {
        unsafeBitCast(p.loadUnaligned(as: SIMD32<Int8>.self), to: __m256i.self)
    }

    /// `dotQ8_0Int8` with byte activations: per block, |w| (unsigned) times
    /// the activations carrying w's sign, pairs added to 16 bits (at most
    /// 2 · 128 · 127, no saturation: activations stay within ±127), then
    /// pairs of those to 32 bits: lane l is the sum over bytes 4l ..< 4l + 4.
    @inline(__always)
    static func dotQ8_0Bytes(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                             cols: Int) -> Float {
        let ones = _mm256_set1_epi16(1)
        @inline(__always)
        func block(_ b: Int) -> (F8, Float) {
            let p = row + 34 * b
            let w = load256(p), a = load256(xq + 32 * b)
            let products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w))
            let sums = unsafeBitCast(_mm256_madd_epi16(products, ones), to: I32x8.self)
            return (F8(sums), halfToFloat(p, 32) * xScales[b])
        }
        return sumOfScaledBlocks(cols / 32, block)
    }

    /// Σ row[j] · x[j] over a ggml-layout Q4_0 (`highBits` false) or Q5_0 row
    /// with byte activations in element order: llama.cpp's Q4_0/Q5_0 x Q8_0
    /// arithmetic. Each block's 32 weights are unpacked to signed bytes
    /// (nibble - 8; Q5_0: nibble + 16 · bit - 16) and multiplied as in
    /// `dotQ8_0Bytes`. There is no portable twin: without this build's byte
    /// kernels these types keep f32 activations.
    @inline(__always)
    static func dotQ4_0Q5_0Bytes(_ row: UnsafeRawPointer, highBits: Bool, _ xq: UnsafePointer<Int8>,
                                 _ xScales: UnsafePointer<Float>, cols: Int) -> Float {
        let ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8)
        // Q5_0's 32 high bits to 32 bytes: byte i of the broadcast word goes to
        // lanes 8i ..< 8i + 8, each lane keeps its own bit (all ones when set).
        let spread = _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0)
        let otherBits = _mm256_set1_epi64x(0x7FBF_DFEF_F7FB_FDFE), allSet = _mm256_set1_epi64x(-1)
        let minus16 = _mm256_set1_epi8(-16)
        let stride = highBits ? 22 : 18, quants = highBits ? 6 : 2
        @inline(__always)
        func block(_ b: Int) -> (F8, Float) {
            let p = row + stride * b
            let packed = unsafeBitCast(p.loadUnaligned(fromByteOffset: quants, as: SIMD16<Int8>.self), to: __m128i.self)
            // Elements 0 ..< 16 are the low nibbles, 16 ..< 32 the high ones.
            let nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low4)
            let w: __m256i
            if highBits {
                let qh = p.loadUnaligned(fromByteOffset: 2, as: Int32.self)
                let set = _mm256_cmpeq_epi8(_mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread), otherBits), allSet)
                // Without its high bit a weight is nibble - 16 = 0xF0 | nibble.
                w = _mm256_or_si256(nibbles, _mm256_andnot_si256(set, minus16))
            } else {
                w = _mm256_sub_epi8(nibbles, eight)
            }
            let a = load256(xq + 32 * b)
            let products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w))
            let sums = unsafeBitCast(_mm256_madd_epi16(products, ones), to: I32x8.self)
            return (F8(sums), halfToFloat(p, 0) * xScales[b])
        }
        return sumOfScaledBlocks(cols / 32, block)
    }

    /// `dotQ4_1Int8` with byte activations: the low and the high nibbles of
    /// the group's 32 bytes (both unsigned) each meet their own 32 activations;
    /// a 16-bit lane then holds the four products of the portable kernel's lane.
    @inline(__always)
    static func dotQ4_1Bytes(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                             cols: Int, xSums: UnsafePointer<Float>) -> Float {
        let mask = _mm256_set1_epi8(0x0F)
        var acc = F8()
        var accM = SIMD2<Float>()
        for g in 0..<(cols / 64) {
            let p = row + 40 * g
            let w = load256(p)
            let xb = UnsafeRawPointer(xq + 64 * g)
            let low = _mm256_maddubs_epi16(_mm256_and_si256(w, mask), load256(xb))
            let high = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(w, 4), mask), load256(xb + 32))
            // Even 16-bit lanes hold block 2g's partial sums, odd lanes block 2g + 1's.
            let pairs = unsafeBitCast(_mm256_add_epi16(low, high), to: I32x8.self)
            let even = F8((pairs &<< 16) &>> 16), odd = F8(pairs &>> 16)
            let dm = halves4(p + 32)  // d0, m0, d1, m1
            acc = multiplyAdd(acc, even, F8(repeating: dm[0] * xScales[2 * g]))
            acc = multiplyAdd(acc, odd, F8(repeating: dm[2] * xScales[2 * g + 1]))
            accM.addProduct(SIMD2(dm[1], dm[3]), UnsafeRawPointer(xSums + 2 * g).loadUnaligned(as: SIMD2<Float>.self))
        }
        return acc.sum() + accM.sum()
    }
}
#endif

extension InterleavedQuants {
    /// `dotQ4_1Bytes` of one weight row with n activation rows (row i at
    /// xq + i·cols, its scales and sums at + i·cols/32) into out[i]. Four rows
    /// go through the group loop together, each group's nibbles unpacked once
    /// for them and their accumulators kept in registers; per row the
    /// operations and their order are `dotQ4_1Bytes`'s, so out[i] is its
    /// result bit for bit.
    @inline(__always)
    static func dotQ4_1BytesRows(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                 xSums: UnsafePointer<Float>, n: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        var i = 0
        while i + 4 <= n {
            let mask = _mm256_set1_epi8(0x0F)
            var acc = (F8(), F8(), F8(), F8())
            var accM = (SIMD2<Float>(), SIMD2<Float>(), SIMD2<Float>(), SIMD2<Float>())
            @inline(__always)
            func step(_ j: Int, _ g: Int, _ low: __m256i, _ high: __m256i, _ dm: SIMD4<Float>,
                      _ acc: inout F8, _ accM: inout SIMD2<Float>) {
                let k = i + j
                let xb = UnsafeRawPointer(xq + k * cols + 64 * g), sc = xScales + k * blocks
                let pairs = unsafeBitCast(_mm256_add_epi16(_mm256_maddubs_epi16(low, load256(xb)),
                                                           _mm256_maddubs_epi16(high, load256(xb + 32))), to: I32x8.self)
                let even = F8((pairs &<< 16) &>> 16), odd = F8(pairs &>> 16)
                acc = multiplyAdd(acc, even, F8(repeating: dm[0] * sc[2 * g]))
                acc = multiplyAdd(acc, odd, F8(repeating: dm[2] * sc[2 * g + 1]))
                accM.addProduct(SIMD2(dm[1], dm[3]),
                                UnsafeRawPointer(xSums + k * blocks + 2 * g).loadUnaligned(as: SIMD2<Float>.self))
            }
            for g in 0..<(cols / 64) {
                let p = row + 40 * g
                let w = load256(p)
                let low = _mm256_and_si256(w, mask), high = _mm256_and_si256(_mm256_srli_epi16(w, 4), mask)
                let dm = halves4(p + 32)  // d0, m0, d1, m1
                step(0, g, low, high, dm, &acc.0, &accM.0)
                step(1, g, low, high, dm, &acc.1, &accM.1)
                step(2, g, low, high, dm, &acc.2, &accM.2)
                step(3, g, low, high, dm, &acc.3, &accM.3)
            }
            out[i] = acc.0.sum() + accM.0.sum()
            out[i + 1] = acc.1.sum() + accM.1.sum()
            out[i + 2] = acc.2.sum() + accM.2.sum()
            out[i + 3] = acc.3.sum() + accM.3.sum()
            i += 4
        }
        for k in i..<n {
            out[k] = dotQ4_1Bytes(row, xq + k * cols, xScales + k * blocks, cols: cols, xSums: xSums + k * blocks)
        }
    }

    /// `dotQ8_0Bytes` of one weight row with n activation rows into out[i],
    /// four rows at a time sharing each block's |w| (see `dotQ4_1BytesRows`);
    /// block b goes to accumulator b & 1 as in `sumOfScaledBlocks`.
    @inline(__always)
    static func dotQ8_0BytesRows(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                 n: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        var i = 0
        while i + 4 <= n {
            let ones = _mm256_set1_epi16(1)
            var even = (F8(), F8(), F8(), F8()), odd = even
            @inline(__always)
            func block(_ j: Int, _ b: Int, _ w: __m256i, _ magnitude: __m256i) -> F8 {
                let products = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(load256(xq + (i + j) * cols + 32 * b), w))
                return F8(unsafeBitCast(_mm256_madd_epi16(products, ones), to: I32x8.self))
            }
            for b in 0..<blocks {
                let p = row + 34 * b
                let w = load256(p), magnitude = _mm256_sign_epi8(w, w)
                let d = halfToFloat(p, 32)
                if b & 1 == 0 {
                    even.0 = multiplyAdd(even.0, block(0, b, w, magnitude), F8(repeating: d * xScales[i * blocks + b]))
                    even.1 = multiplyAdd(even.1, block(1, b, w, magnitude), F8(repeating: d * xScales[(i + 1) * blocks + b]))
                    even.2 = multiplyAdd(even.2, block(2, b, w, magnitude), F8(repeating: d * xScales[(i + 2) * blocks + b]))
                    even.3 = multiplyAdd(even.3, block(3, b, w, magnitude), F8(repeating: d * xScales[(i + 3) * blocks + b]))
                } else {
                    odd.0 = multiplyAdd(odd.0, block(0, b, w, magnitude), F8(repeating: d * xScales[i * blocks + b]))
                    odd.1 = multiplyAdd(odd.1, block(1, b, w, magnitude), F8(repeating: d * xScales[(i + 1) * blocks + b]))
                    odd.2 = multiplyAdd(odd.2, block(2, b, w, magnitude), F8(repeating: d * xScales[(i + 2) * blocks + b]))
                    odd.3 = multiplyAdd(odd.3, block(3, b, w, magnitude), F8(repeating: d * xScales[(i + 3) * blocks + b]))
                }
            }
            out[i] = (even.0 + odd.0).sum()
            out[i + 1] = (even.1 + odd.1).sum()
            out[i + 2] = (even.2 + odd.2).sum()
            out[i + 3] = (even.3 + odd.3).sum()
            i += 4
        }
        for k in i..<n { out[k] = dotQ8_0Bytes(row, xq + k * cols, xScales + k * blocks, cols: cols) }
    }
}

extension InterleavedQuants {
    /// Whether this build has the byte kernels (`dotQ4_1Bytes`, `dotQ8_0Bytes`,
    /// `dotQ4_0Q5_0Bytes`).
    static var hasByteKernels: Bool {
        #if LIMRANK_AVX2
        return true
        #else
        return false
        #endif
    }
}
