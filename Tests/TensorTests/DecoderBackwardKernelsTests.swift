import Foundation
import Testing
@testable import Tensor

/// The decoder backward kernels against central finite differences of the
/// forward kernels they differentiate (in double, on small random inputs):
/// d/dx of L = Σ g ⊙ f(x) for a fixed random g.
@Suite struct DecoderBackwardKernelsTests {
    /// Largest |analytic − numeric| relative to max |numeric| (f32 forward, step 1e-2).
    static let tolerance: Double = 2e-3

    struct RNG {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    static func numericGradient(_ x: [Float], _ g: [Float], _ f: ([Float]) -> [Float]) -> [Double] {
        let h: Float = 1e-2
        return (0..<x.count).map { i in
            var a = x, b = x
            a[i] += h
            b[i] -= h
            let fa = f(a), fb = f(b)
            var s = 0.0
            for j in 0..<g.count { s += Double(g[j]) * (Double(fa[j]) - Double(fb[j])) }
            return s / Double(2 * h)
        }
    }

    static func check(_ analytic: [Float], _ numeric: [Double], _ what: String) {
        let scale = numeric.map(abs).max()!
        let error = zip(analytic, numeric).map { abs(Double($0) - $1) }.max()!
        #expect(scale > 1e-3, "\(what): degenerate test")
        #expect(error <= tolerance * scale, "\(what): max |Δ| \(error), scale \(scale)")
    }

    @Test func rmsNorm() {
        var rng = RNG(state: 1)
        let rows = 3, cols = 10
        let x = (0..<(rows * cols)).map { _ in rng.next() }, g = (0..<(rows * cols)).map { _ in rng.next() }
        let w = (0..<cols).map { _ in 1 + 0.5 * rng.next() }
        let f: ([Float]) -> [Float] = { v in
            var y = v
            w.withUnsafeBufferPointer { wp in Kernels.rmsNorm(&y, rows: rows, cols: cols, weight: wp.baseAddress!, eps: 1e-6) }
            return y
        }
        var dx = [Float](repeating: 0, count: x.count)
        DecoderBackwardKernels.rmsNorm(x: x, dy: g, weight: w, rows: rows, cols: cols, eps: 1e-6, dx: &dx, accumulate: false)
        Self.check(dx, Self.numericGradient(x, g, f), "rmsNorm")
    }

    @Test func siluMul() {
        var rng = RNG(state: 2)
        let n = 24
        let gate = (0..<n).map { _ in 3 * rng.next() }, up = (0..<n).map { _ in rng.next() }, g = (0..<n).map { _ in rng.next() }
        var dGate = [Float](repeating: 0, count: n), dUp = dGate
        DecoderBackwardKernels.siluMul(gate: gate, up: up, da: g, count: n, dGate: &dGate, dUp: &dUp)
        let fGate: ([Float]) -> [Float] = { v in var u = up; Kernels.siluMul(v, into: &u, rows: 1, cols: n, upStride: n); return u }
        let fUp: ([Float]) -> [Float] = { v in var u = v; Kernels.siluMul(gate, into: &u, rows: 1, cols: n, upStride: n); return u }
        Self.check(dGate, Self.numericGradient(gate, g, fGate), "siluMul gate")
        Self.check(dUp, Self.numericGradient(up, g, fUp), "siluMul up")
    }

    @Test func ropeBackwardIsTheInverseRotation() {
        var rng = RNG(state: 3)
        let tokens = 5, heads = 2, d = 8
        let x = (0..<(tokens * heads * d)).map { _ in rng.next() }, g = (0..<x.count).map { _ in rng.next() }
        let positions = Array(3..<(3 + tokens))
        let f: ([Float]) -> [Float] = { v in
            var y = v
            Kernels.rope(&y, tokens: tokens, heads: heads, headDim: d, positions: positions, theta: 10000, layout: .neox)
            return y
        }
        var dx = g
        DecoderBackwardKernels.rope(&dx, tokens: tokens, heads: heads, headDim: d, positions: positions, theta: 10000, layout: .neox)
        Self.check(dx, Self.numericGradient(x, g, f), "rope")
    }

    @Test func causalAttention() {
        var rng = RNG(state: 4)
        let n = 4, heads = 2, kvHeads = 1, d = 4, qW = heads * d, kvW = kvHeads * d
        let scale = 1 / Float(d).squareRoot()
        let q = (0..<(n * qW)).map { _ in rng.next() }, k = (0..<(n * kvW)).map { _ in rng.next() }
        let v = (0..<(n * kvW)).map { _ in rng.next() }, g = (0..<(n * qW)).map { _ in rng.next() }
        func forward(_ q: [Float], _ k: [Float], _ v: [Float], probabilities: inout [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: n * qW)
            for h in 0..<heads {
                for r in 0..<n {
                    var s = (0...r).map { c in (0..<d).reduce(Float(0)) { $0 + q[r * qW + h * d + $1] * k[c * kvW + $1] } * scale }
                    let m = s.max()!
                    s = s.map { Foundation.exp($0 - m) }
                    let z = s.reduce(0, +)
                    for c in 0...r {
                        probabilities[h * n * n + r * n + c] = s[c] / z
                        for j in 0..<d { out[r * qW + h * d + j] += s[c] / z * v[c * kvW + j] }
                    }
                }
            }
            return out
        }
        var p = [Float](repeating: 0, count: heads * n * n)
        _ = forward(q, k, v, probabilities: &p)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        var scratch = [Float](repeating: 0, count: n * n)
        DecoderBackwardKernels.attention(q: q, k: k, v: v, probabilities: p, dContext: g, n: n, heads: heads, kvHeads: kvHeads,
                                         headDim: d, scale: scale, dq: &dq, dk: &dk, dv: &dv, scratch: &scratch)
        var tmp = p
        Self.check(dq, Self.numericGradient(q, g) { forward($0, k, v, probabilities: &tmp) }, "attention dq")
        Self.check(dk, Self.numericGradient(k, g) { forward(q, $0, v, probabilities: &tmp) }, "attention dk")
        Self.check(dv, Self.numericGradient(v, g) { forward(q, k, $0, probabilities: &tmp) }, "attention dv")
    }

    @Test func crossEntropy() {
        var rng = RNG(state: 5)
        let rows = 2, vocab = 7
        let logits = (0..<(rows * vocab)).map { _ in 2 * rng.next() }
        let targets = [3, 6]
        func loss(_ l: [Float]) -> Double {
            var sum = 0.0
            for r in 0..<rows {
                let row = l[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
                let m = row.max()!
                sum += Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +)) + m - row[targets[r]]
            }
            return sum
        }
        var grad = logits
        let value = DecoderBackwardKernels.crossEntropy(logits: &grad, rows: rows, vocab: vocab, targets: targets, scale: 0.5)
        #expect(abs(value - loss(logits)) <= 1e-5 * abs(loss(logits)))
        let numeric = (0..<logits.count).map { i -> Double in
            var a = logits, b = logits
            a[i] += 1e-2
            b[i] -= 1e-2
            return 0.5 * (loss(a) - loss(b)) / 2e-2
        }
        Self.check(grad, numeric, "crossEntropy")
    }
}
