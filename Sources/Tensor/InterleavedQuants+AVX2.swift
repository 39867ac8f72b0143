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
        @inline(__always)
        func block(_ b: Int) -> (F8, Float) {
            let p = row + 34 * b
            let w = load256(p)
            return (q8_0BlockSums(w, magnitude: _mm256_sign_epi8(w, w), xq + 32 * b), halfToFloat(p, 32) * xScales[b])
        }
        return sumOfScaledBlocks(cols / 32, block)
    }

    /// One Q8_0 block's eight lane sums against 32 byte activations (w and
    /// its |w| given, so that several activation rows can share them).
    @inline(__always)
    static func q8_0BlockSums(_ w: __m256i, magnitude: __m256i, _ a: UnsafePointer<Int8>) -> F8 {
        let products = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(load256(a), w))
        return F8(unsafeBitCast(_mm256_madd_epi16(products, _mm256_set1_epi16(1)), to: I32x8.self))
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
        let low4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8)
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
            return (q8_0BlockSums(w, magnitude: _mm256_sign_epi8(w, w), xq + 32 * b), halfToFloat(p, 0) * xScales[b])
        }
        return sumOfScaledBlocks(cols / 32, block)
    }

    /// `dotQ4_1Int8` with byte activations: the low and the high nibbles of
    /// the group's 32 bytes (both unsigned) each meet their own 32 activations;
    /// a 16-bit lane then holds the four products of the portable kernel's lane.
    @inline(__always)
    static func dotQ4_1Bytes(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                             cols: Int, xSums: UnsafePointer<Float>) -> Float {
        var acc = F8()
        var accM = SIMD2<Float>()
        for g in 0..<(cols / 64) {
            let (low, high, dm) = q4_1Group(row + 40 * g)
            accumulateQ4_1Group(low, high, dm, xq + 64 * g, scales: xScales + 2 * g, sums: xSums + 2 * g, &acc, &accM)
        }
        return acc.sum() + accM.sum()
    }

    /// A Q4_1 group's low and high nibbles as bytes, and its d0, m0, d1, m1.
    @inline(__always)
    static func q4_1Group(_ p: UnsafeRawPointer) -> (__m256i, __m256i, SIMD4<Float>) {
        let mask = _mm256_set1_epi8(0x0F), w = load256(p)
        return (_mm256_and_si256(w, mask), _mm256_and_si256(_mm256_srli_epi16(w, 4), mask), halves4(p + 32))
    }

    /// One Q4_1 group against one row's 64 byte activations, their two block
    /// scales and two block sums, into that row's accumulators.
    @inline(__always)
    static func accumulateQ4_1Group(_ low: __m256i, _ high: __m256i, _ dm: SIMD4<Float>, _ xb: UnsafePointer<Int8>,
                                    scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                    _ acc: inout F8, _ accM: inout SIMD2<Float>) {
        let a = UnsafeRawPointer(xb)
        let pairs = _mm256_add_epi16(_mm256_maddubs_epi16(low, load256(a)), _mm256_maddubs_epi16(high, load256(a + 32)))
        addQ4_1Group(unsafeBitCast(pairs, to: I32x8.self), dm, scales: scales, sums: sums, &acc, &accM)
    }

    /// `dotQ4_1Bytes` of one weight row with n activation rows (row i at
    /// xq + i·cols, its scales and sums at + i·cols/32) into out[i]. Four rows
    /// go through the group loop together, each group unpacked once for them
    /// and their accumulators kept in registers; per row the operations and
    /// their order are `dotQ4_1Bytes`'s, so out[i] is its result bit for bit.
    @inline(__always)
    static func dotQ4_1BytesRows(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                 xSums: UnsafePointer<Float>, n: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        var i = 0
        while i + 4 <= n {
            var acc = (F8(), F8(), F8(), F8())
            var accM = (SIMD2<Float>(), SIMD2<Float>(), SIMD2<Float>(), SIMD2<Float>())
            for g in 0..<(cols / 64) {
                let (low, high, dm) = q4_1Group(row + 40 * g)
                @inline(__always)
                func add(_ j: Int, _ acc: inout F8, _ accM: inout SIMD2<Float>) {
                    let b = (i + j) * blocks + 2 * g
                    accumulateQ4_1Group(low, high, dm, xq + (i + j) * cols + 64 * g, scales: xScales + b, sums: xSums + b,
                                        &acc, &accM)
                }
                add(0, &acc.0, &accM.0)
                add(1, &acc.1, &accM.1)
                add(2, &acc.2, &accM.2)
                add(3, &acc.3, &accM.3)
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
    /// four rows at a time sharing each block's w and |w| (see
    /// `dotQ4_1BytesRows`); block b goes to accumulator b & 1 as in
    /// `sumOfScaledBlocks`.
    @inline(__always)
    static func dotQ8_0BytesRows(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                 n: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        var i = 0
        while i + 4 <= n {
            var acc = ((F8(), F8()), (F8(), F8()), (F8(), F8()), (F8(), F8()))  // (even, odd) per row
            for b in 0..<blocks {
                let p = row + 34 * b
                let w = load256(p), magnitude = _mm256_sign_epi8(w, w)
                let d = halfToFloat(p, 32)
                @inline(__always)
                func add(_ j: Int, _ acc: inout (F8, F8)) {
                    let k = i + j
                    let sums = q8_0BlockSums(w, magnitude: magnitude, xq + k * cols + 32 * b)
                    let scale = F8(repeating: d * xScales[k * blocks + b])
                    if b & 1 == 0 { acc.0 = multiplyAdd(acc.0, sums, scale) } else { acc.1 = multiplyAdd(acc.1, sums, scale) }
                }
                add(0, &acc.0)
                add(1, &acc.1)
                add(2, &acc.2)
                add(3, &acc.3)
            }
            out[i] = (acc.0.0 + acc.0.1).sum()
            out[i + 1] = (acc.1.0 + acc.1.1).sum()
            out[i + 2] = (acc.2.0 + acc.2.1).sum()
            out[i + 3] = (acc.3.0 + acc.3.1).sum()
            i += 4
        }
        for k in i..<n { out[k] = dotQ8_0Bytes(row, xq + k * cols, xScales + k * blocks, cols: cols) }
    }
}
#endif

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
