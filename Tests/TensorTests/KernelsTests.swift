import Testing
import Foundation
@testable import Tensor

private func relErr(_ a: [Float], _ b: [Float]) -> Float {
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
    return m
}

private func fastAndRef(_ input: [Float], fast: (UnsafeMutablePointer<Float>, Int) -> Void, ref: (UnsafeMutablePointer<Float>, Int) -> Void) -> ([Float], [Float]) {
    var a = input, b = input
    a.withUnsafeMutableBufferPointer { fast($0.baseAddress!, $0.count) }
    b.withUnsafeMutableBufferPointer { ref($0.baseAddress!, $0.count) }
    return (a, b)
}

@Test func activationsAgreeWithReference() {
    var rng = SplitMix(seed: 3)
    // Wide range, odd length (vector tail), and the saturating extremes.
    let x = rng.floats(40_001, scale: 12) + [0, -0, 1e-8, -1e-8, 90, -90, 200, -200]
    let pairs: [(String, (UnsafeMutablePointer<Float>, Int) -> Void, (UnsafeMutablePointer<Float>, Int) -> Void)] = [
        ("gelu", { Kernels.gelu($0, count: $1) }, { ReferenceKernels.gelu($0, count: $1) }),
        ("geluTanh", { Kernels.geluTanh($0, count: $1) }, { ReferenceKernels.geluTanh($0, count: $1) }),
        ("silu", { Kernels.silu($0, count: $1) }, { ReferenceKernels.silu($0, count: $1) }),
    ]
    for (name, f, r) in pairs {
        let (a, b) = fastAndRef(x, fast: f, ref: r)
        for i in x.indices {
            #expect(abs(a[i] - b[i]) <= Kernels.Tolerance.activation * max(1, abs(x[i])), "\(name)(\(x[i])): \(a[i]) vs \(b[i])")
        }
    }
    var e = rng.floats(1001, scale: 80) + [-100, -87.5, 88.5, 100]
    let ref = e.map { Foundation.exp($0) }
    e.withUnsafeMutableBufferPointer { Kernels.exp($0.baseAddress!, count: $0.count) }
    for i in e.indices where ref[i].isFinite {
        #expect(abs(e[i] - ref[i]) <= Kernels.Tolerance.softmax * ref[i] + 1e-37)
    }
    #expect(e.last == .infinity)
}

@Test(arguments: [SoftmaxMask.none, .causal(), .causal(offset: 3), .keys(2..<9), SoftmaxMask(causalOffset: 1, validKeys: 4..<11),
                  .slidingCausal(offset: 4, window: 3)])
func softmaxAgreesWithReference(mask: SoftmaxMask) {
    var rng = SplitMix(seed: 4)
    let rows = 7, cols = 11
    let x = rng.floats(rows * cols, scale: 20)
    var a = x, b = x
    a.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: rows, cols: cols, scale: 0.3, mask: mask) }
    b.withUnsafeMutableBufferPointer { ReferenceKernels.softmax($0.baseAddress!, rows: rows, cols: cols, scale: 0.3, mask: mask) }
    #expect(relErr(a, b) <= Kernels.Tolerance.softmax)
    for r in 0..<rows {
        let vis = mask.visible(row: r, cols: cols)
        let s = a[(r * cols)..<((r + 1) * cols)].reduce(0, +)
        #expect(abs(s - (vis.isEmpty ? 0 : 1)) < 1e-5)
        for c in 0..<cols where !vis.contains(c) { #expect(a[r * cols + c] == 0) }
    }
}

@Test func softmaxIsStableForHugeScoresAndLongRows() {
    var x: [Float] = [1000, 1000, -.infinity] + [Float](repeating: -5, count: 5000)
    x.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: 1, cols: $0.count) }
    #expect(abs(x[0] - 0.5) < 1e-6 && x[2] == 0)
    let t = Tensor(shape: [2, 2, 3], data: [1, 2, 3, 1, 2, 3, 0, 0, 0, 5, 5, 5]).softmax(mask: .causal())
    #expect(t.data[0] == 1 && t.data[1] == 0 && abs(t.data[9] - 0.5) < 1e-6 && t.data[11] == 0)
}

@Test func normsAgreeWithReference() {
    var rng = SplitMix(seed: 5)
    for cols in [384, 576, 13] {
        let rows = 300
        let x = rng.floats(rows * cols, scale: 4).map { $0 + 3 }
        let g = rng.floats(cols), bta = rng.floats(cols)
        var a = x, b = x, c = x, d = x
        a.withUnsafeMutableBufferPointer { Kernels.layerNorm($0.baseAddress!, rows: rows, cols: cols, gamma: g, beta: bta, eps: 1e-12) }
        b.withUnsafeMutableBufferPointer { ReferenceKernels.layerNorm($0.baseAddress!, rows: rows, cols: cols, gamma: g, beta: bta, eps: 1e-12) }
        c.withUnsafeMutableBufferPointer { Kernels.rmsNorm($0.baseAddress!, rows: rows, cols: cols, weight: g, eps: 1e-5) }
        d.withUnsafeMutableBufferPointer { ReferenceKernels.rmsNorm($0.baseAddress!, rows: rows, cols: cols, weight: g, eps: 1e-5) }
        #expect(relErr(a, b) <= Kernels.Tolerance.norm)
        #expect(relErr(c, d) <= Kernels.Tolerance.norm)
    }
}

@Test(arguments: [RoPELayout.neox, .interleaved])
func ropeAgreesWithReferenceAndPreservesNorm(layout: RoPELayout) {
    var rng = SplitMix(seed: 6)
    let tokens = 9, heads = 3, dim = 64
    let x = rng.floats(tokens * heads * dim)
    let positions = (0..<tokens).map { $0 * 37 + 5 }
    let fast = Tensor(shape: [tokens, heads, dim], data: x).rope(positions: positions, theta: 10000, layout: layout)
    var ref = x
    ref.withUnsafeMutableBufferPointer {
        ReferenceKernels.rope($0.baseAddress!, tokens: tokens, heads: heads, headDim: dim, positions: positions, theta: 10000, layout: layout)
    }
    // Angles up to ~300 rad lose ~1e-5 rad in f32 (transformers computes them in f32 too).
    #expect(fast.maxAbsDifference(Tensor(shape: fast.shape, data: ref)) < 1e-4)
    let n0 = x.prefix(dim).reduce(0) { $0 + $1 * $1 }, n1 = fast.data.prefix(dim).reduce(0) { $0 + $1 * $1 }
    #expect(abs(n0 - n1) < 1e-4)
    // Position 0 is the identity.
    let id = Tensor(shape: [1, 1, dim], data: Array(x.prefix(dim))).rope(positions: [0], theta: 10000, layout: layout)
    #expect(id.data == Array(x.prefix(dim)))
}

@Test func argmaxAndTopKAgreeWithReference() {
    var rng = SplitMix(seed: 7)
    var x = rng.floats(49_152, scale: 30)
    x[100] = 31; x[200] = 31; x[5] = .nan
    x.withUnsafeBufferPointer { p in
        #expect(Kernels.argmax(p.baseAddress!, count: p.count) == 100)
        #expect(ReferenceKernels.argmax(p.baseAddress!, count: p.count) == 100)
        let a = Kernels.topK(p.baseAddress!, count: p.count, k: 40)
        let b = ReferenceKernels.topK(p.baseAddress!, count: p.count, k: 40)
        #expect(a.map(\.index) == b.map(\.index))
        #expect(a.first?.index == 100 && a[1].index == 200)
    }
}

/// One decode step's grouped-query attention against a double-precision
/// loop over the same cache (SmolLM2's 9 heads on 3 key/value heads).
@Test(arguments: [1, 37, 700])
func attendOneAgreesWithReference(total: Int) {
    var rng = SplitMix(seed: 9)
    let heads = 9, kvHeads = 3, D = 64, scale: Float = 0.125
    let q = rng.floats(heads * D), k = rng.floats(total * kvHeads * D), v = rng.floats(total * kvHeads * D)
    var probabilities = [Float](repeating: 0, count: heads * total), context = [Float](repeating: 0, count: heads * D)
    probabilities.withUnsafeMutableBufferPointer { p in
        context.withUnsafeMutableBufferPointer { c in
            Kernels.attendOne(query: q, keys: k, values: v, total: total, heads: heads, kvHeads: kvHeads, headDim: D,
                              scale: scale, probabilities: p.baseAddress!, context: c.baseAddress!)
        }
    }
    for h in 0..<heads {
        let g = h / (heads / kvHeads)
        var s = (0..<total).map { t in (0..<D).reduce(0.0) { $0 + Double(q[h * D + $1]) * Double(k[t * kvHeads * D + g * D + $1]) } * Double(scale) }
        let m = s.max()!
        s = s.map { Foundation.exp($0 - m) }
        let z = s.reduce(0, +)
        for t in 0..<total { #expect(abs(Double(probabilities[h * total + t]) - s[t] / z) < 1e-6) }
        for i in 0..<D {
            let ref = (0..<total).reduce(0.0) { $0 + s[$1] / z * Double(v[$1 * kvHeads * D + g * D + i]) }
            #expect(abs(Double(context[h * D + i]) - ref) < 1e-5)
        }
    }
}

/// The f16-cache variant reads halves: on keys and values that are already
/// f16-representable it must give what the f32 kernel gives on the same
/// values (same arithmetic, only the load differs). The conversions round to
/// nearest even and widen exactly.
@Test(arguments: [1, 37, 300])
func attendOneOnHalvesMatchesTheF32Kernel(total: Int) {
    var rng = SplitMix(seed: 10)
    let heads = 9, kvHeads = 3, D = 72, scale: Float = 0.125  // 72: one 64-column block and a tail
    let q = rng.floats(heads * D)
    var kh = [UInt16](repeating: 0, count: total * kvHeads * D), vh = kh
    let k32 = rng.floats(total * kvHeads * D), v32 = rng.floats(total * kvHeads * D)
    Kernels.toHalves(k32, count: k32.count, into: &kh)
    Kernels.toHalves(v32, count: v32.count, into: &vh)
    var k = [Float](repeating: 0, count: kh.count), v = k
    Kernels.fromHalves(kh, count: kh.count, into: &k)
    Kernels.fromHalves(vh, count: vh.count, into: &v)
    for i in 0..<k.count {
        #expect(k[i] == Float(Float16(k32[i])))
        if k[i] != Float(Float16(k32[i])) { break }
    }
    func run(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var p = [Float](repeating: 0, count: heads * total), c = [Float](repeating: 0, count: heads * D)
        p.withUnsafeMutableBufferPointer { pp in c.withUnsafeMutableBufferPointer { body(pp.baseAddress!, $0.baseAddress!) } }
        return p + c
    }
    let full = run { p, c in
        Kernels.attendOne(query: q, keys: k, values: v, total: total, heads: heads, kvHeads: kvHeads, headDim: D,
                          scale: scale, probabilities: p, context: c)
    }
    let half = run { p, c in
        Kernels.attendOne(query: q, halfKeys: kh, halfValues: vh, total: total, heads: heads, kvHeads: kvHeads, headDim: D,
                          scale: scale, probabilities: p, context: c)
    }
    #expect(full == half)
}

/// A gate slice into a wider up rounds exactly as the whole row does on
/// 8-aligned slices (the model's: I / 4 columns), where both take the vector
/// path; scalar tails use libm's exp (see the next test).
/// Gemma 3's local attention: row r sees the `window` keys ending at r + offset
/// (transformers' kv_idx > q_idx - sliding_window); no window is plain causal.
@Test func slidingWindowMaskKeepsTheLastKeys() {
    let mask = SoftmaxMask.slidingCausal(offset: 4, window: 3)
    #expect(mask.visible(row: 0, cols: 20) == 2..<5)
    #expect(mask.visible(row: 10, cols: 20) == 12..<15)
    #expect(SoftmaxMask.slidingCausal(offset: 0, window: 3).visible(row: 1, cols: 8) == 0..<2)
    #expect(SoftmaxMask.slidingCausal(offset: 4, window: nil) == .causal(offset: 4))
}

/// GeGLU (Gemma's MLP): gelu_tanh(gate) · up, row-strided like siluMul, against the reference GELU.
@Test func geluTanhMulAgreesWithReference() {
    var rng = SplitMix(seed: 79)
    let rows = 5, width = 53, a = 11, b = 42
    let gate = rng.floats(rows * (b - a)).map { $0 * 6 }, up = rng.floats(rows * width)
    var got = up
    gate.withUnsafeBufferPointer { g in
        got.withUnsafeMutableBufferPointer { Kernels.geluTanhMul(g.baseAddress!, into: $0.baseAddress! + a, rows: rows, cols: b - a, upStride: width) }
    }
    var activated = gate
    activated.withUnsafeMutableBufferPointer { ReferenceKernels.geluTanh($0.baseAddress!, count: $0.count) }
    for r in 0..<rows {
        for j in 0..<width {
            let i = r * width + j
            guard (a..<b).contains(j) else { #expect(got[i] == up[i]); continue }
            let g = gate[r * (b - a) + j - a], expected = activated[r * (b - a) + j - a] * up[i]
            #expect(abs(got[i] - expected) <= Kernels.Tolerance.activation * max(1, abs(g)) * max(1, abs(up[i])), "row \(r) col \(j)")
        }
    }
}

@Test func stridedSiluMulMatchesWholeRows() {
    var rng = SplitMix(seed: 77)
    let rows = 7, width = 56, a = 16, b = 48
    let gate = rng.floats(rows * width).map { $0 * 6 }, up = rng.floats(rows * width)
    var expected = up
    gate.withUnsafeBufferPointer { g in
        expected.withUnsafeMutableBufferPointer { Kernels.siluMul(g.baseAddress!, into: $0.baseAddress!, rows: rows, cols: width, upStride: width) }
    }
    var got = up
    let slice = (0..<rows).flatMap { r in gate[(r * width + a)..<(r * width + b)] }
    slice.withUnsafeBufferPointer { g in
        got.withUnsafeMutableBufferPointer { Kernels.siluMul(g.baseAddress!, into: $0.baseAddress! + a, rows: rows, cols: b - a, upStride: width) }
    }
    for r in 0..<rows {
        for j in 0..<width {
            let i = r * width + j
            #expect(got[i] == ((a..<b).contains(j) ? expected[i] : up[i]), "row \(r) col \(j)")
        }
    }
}

@Test func stridedSiluMulTailsStayClose() {
    var rng = SplitMix(seed: 78)
    let rows = 5, width = 53, a = 11, b = 42
    let gate = rng.floats(rows * (b - a)).map { $0 * 6 }, up = rng.floats(rows * width)
    var got = up
    gate.withUnsafeBufferPointer { g in
        got.withUnsafeMutableBufferPointer { Kernels.siluMul(g.baseAddress!, into: $0.baseAddress! + a, rows: rows, cols: b - a, upStride: width) }
    }
    for r in 0..<rows {
        for j in 0..<width {
            let i = r * width + j
            guard (a..<b).contains(j) else { #expect(got[i] == up[i]); continue }
            let v = Double(gate[r * (b - a) + j - a])
            let expected = v / (1 + exp(-v)) * Double(up[i])
            #expect(abs(Double(got[i]) - expected) <= 1e-6 * max(1, abs(expected)), "row \(r) col \(j)")
        }
    }
}
