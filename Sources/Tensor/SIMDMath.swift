// Vectorised transcendental functions on SIMD8<Float>.
//
// Swift has no vector exp/erf, and calling libm per element is what made the
// scalar kernels slow (softmax, GELU and SiLU are exp-bound). These are
// Cephes-style range reduction + polynomial, accurate to a few ulp.

typealias F8 = SIMD8<Float>

/// acc + a · b. With FMA, the fused form also keeps LLVM from re-associating
/// accumulation chains into shuffles and scalar adds (measured 2.5x slower in
/// the quantised dots); without FMA the fused form would be a library call per lane.
@inline(__always)
func multiplyAdd(_ acc: F8, _ a: F8, _ b: F8) -> F8 {
    #if LIMRANK_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// Eight floats from `p` (any alignment); public for the optimizer's loops.
@inlinable @inline(__always)
public func loadF8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inlinable @inline(__always)
public func storeF8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// e^x, relative error ~2e-7; 0 below -87.33 and +inf above 88.72 like expf.
@inline(__always)
func exp8(_ x: F8) -> F8 {
    let lo = F8(repeating: -87.33654), hi = F8(repeating: 88.72283)
    // clamped()/pointwiseMin are scalarised by the compiler (NaN rules);
    // compare + replace stays in vector registers.
    var v = x
    v.replace(with: lo, where: x .< lo)
    v.replace(with: hi, where: x .> hi)
    // Round x/ln2 to an integer by adding 1.5 * 2^23: the sum's low mantissa
    // bits are then that integer, so no (slow, scalarised) float->int
    // conversion is needed.
    let magic = F8(repeating: 12_582_912)
    let t = v * 1.44269504088896341 + magic
    let fx = t - magic
    let n = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    v = v - fx * 0.693359375
    v = v + fx * 2.12194440e-4
    let z = v * v
    var y = F8(repeating: 1.9875691500e-4)
    y = y * v + 1.3981999507e-3
    y = y * v + 8.3334519073e-3
    y = y * v + 4.1665795894e-2
    y = y * v + 1.6666665459e-1
    y = y * v + 5.0000001201e-1
    y = y * z + v + 1
    // 2^n as two factors so n = 128 (x near 88.7) stays representable.
    let n1 = n &>> 1, n2 = n &- n1
    var r = y * unsafeBitCast((n1 &+ 127) &<< 23, to: F8.self) * unsafeBitCast((n2 &+ 127) &<< 23, to: F8.self)
    r.replace(with: 0, where: x .< lo)
    r.replace(with: .infinity, where: x .> 88.72283)
    return r
}

/// erf(x) from the Chebyshev-fitted erfc of Numerical Recipes (fractional
/// error < 1.2e-7 in erfc), written branch-free for vectors.
@inline(__always)
func erf8(_ x: F8) -> F8 {
    let z = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    let t = 1 / (1 + 0.5 * z)
    var p = F8(repeating: 0.17087277)
    p = p * t - 0.82215223
    p = p * t + 1.48851587
    p = p * t - 1.13520398
    p = p * t + 0.27886807
    p = p * t - 0.18628806
    p = p * t + 0.09678418
    p = p * t + 0.37409196
    p = p * t + 1.00002368
    p = p * t - 1.26551223
    let erfc = t * exp8(-z * z + p)
    var r = 1 - erfc
    r.replace(with: -r, where: x .< 0)
    return r
}

/// tanh(x) = 1 - 2 / (e^{2x} + 1); saturates cleanly at ±1.
@inline(__always)
func tanh8(_ x: F8) -> F8 {
    let one = F8(repeating: 1)
    return one - 2 / (exp8(2 * x) + one)
}

/// Applies `f` over `count` floats from `src` into `dst` (may alias), eight
/// at a time; the tail goes through the same vector code, zero-padded.
@inline(__always)
func map8(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ f: (F8) -> F8) {
    var i = 0
    while i + 8 <= count {
        storeF8(f(loadF8(src + i)), dst + i)
        i += 8
    }
    if i < count {
        var tmp = F8()
        for j in 0..<(count - i) { tmp[j] = src[i + j] }
        let r = f(tmp)
        for j in 0..<(count - i) { dst[i + j] = r[j] }
    }
}

@inline(__always)
func sum8(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = F8(), a1 = F8()
    var i = 0
    while i + 16 <= count {
        a0 += loadF8(p + i)
        a1 += loadF8(p + i + 8)
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < count { s += p[i]; i += 1 }
    return s
}

@inline(__always)
func dot8(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = F8(), a1 = F8()
    var i = 0
    while i + 16 <= count {
        a0 += loadF8(a + i) * loadF8(b + i)
        a1 += loadF8(a + i + 8) * loadF8(b + i + 8)
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < count { s += a[i] * b[i]; i += 1 }
    return s
}

@inline(__always)
func max8(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var m = -Float.infinity
    var i = 0
    if count >= 8 {
        var a = loadF8(p)
        i = 8
        while i + 8 <= count {
            let b = loadF8(p + i)
            a.replace(with: b, where: b .> a)
            i += 8
        }
        m = a.max()
    }
    while i < count { m = max(m, p[i]); i += 1 }
    return m
}

/// What a KV cache row can hold: f32, or IEEE halves kept as their bits.
protocol CacheElement {
    static func load8(_ p: UnsafePointer<Self>) -> F8
    static func load(_ p: UnsafePointer<Self>) -> Float
}

extension Float: CacheElement {
    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> F8 { loadF8(p) }
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Float { p.pointee }
}

extension UInt16: CacheElement {
    /// One `vcvtph2ps` with F16C.
    @inline(__always) static func load8(_ p: UnsafePointer<UInt16>) -> F8 {
        F8(halfBitsToFloat(p[0]), halfBitsToFloat(p[1]), halfBitsToFloat(p[2]), halfBitsToFloat(p[3]),
           halfBitsToFloat(p[4]), halfBitsToFloat(p[5]), halfBitsToFloat(p[6]), halfBitsToFloat(p[7]))
    }
    @inline(__always) static func load(_ p: UnsafePointer<UInt16>) -> Float { halfBitsToFloat(p.pointee) }
}
