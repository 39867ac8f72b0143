import Foundation
import Testing
@testable import Tensor

/// Backward kernels against their double-precision references and against
/// central finite differences of the forward kernels.
@Suite struct BackwardKernelsTests {
    /// Fast kernel vs its double reference.
    static let tolerance: Float = 2e-5
    /// Analytic vs finite-difference derivative (step 1e-3 in double).
    static let finiteDifferenceTolerance: Double = 1e-4

    static func values(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { i -> Float in
            let a: Double = sin(Double(i * 7 + seed) * 0.37) * 2
            let b: Double = cos(Double(i * seed + 1) * 0.11)
            return Float(a + b)
        }
    }

    @Test func layerNormBackwardMatchesReference() {
        let rows = 5, cols = 37
        let x = Self.values(rows * cols, seed: 3), dy = Self.values(rows * cols, seed: 11)
        let gamma = Self.values(cols, seed: 5).map { 1 + 0.3 * $0 }, beta = Self.values(cols, seed: 7)
        var y = [Float](repeating: 0, count: rows * cols), xhat = y, inv = [Float](repeating: 0, count: rows)
        var dx = y, dGamma = [Float](repeating: 0, count: cols), dBeta = dGamma
        BackwardKernels.layerNormForward(x, rows: rows, cols: cols, gamma: gamma, beta: beta, epsilon: 1e-12,
                                         output: &y, normalized: &xhat, inverseStd: &inv)
        // Forward equals the inference kernel's reference.
        for r in 0..<rows {
            let ref = EncoderKernels.layerNormReference(Array(x[(r * cols)..<((r + 1) * cols)]), gamma: gamma, beta: beta, epsilon: 1e-12)
            for c in 0..<cols { #expect(abs(y[r * cols + c] - ref[c]) <= Self.tolerance) }
        }
        BackwardKernels.layerNormBackward(dy, normalized: xhat, inverseStd: inv, gamma: gamma, rows: rows, cols: cols,
                                          dx: &dx, dGamma: &dGamma, dBeta: &dBeta)
        var refGamma = [Float](repeating: 0, count: cols), refBeta = refGamma
        for r in 0..<rows {
            let row = Array(x[(r * cols)..<((r + 1) * cols)]), g = Array(dy[(r * cols)..<((r + 1) * cols)])
            let ref = BackwardKernels.layerNormBackwardReference(x: row, dy: g, gamma: gamma, epsilon: 1e-12)
            for c in 0..<cols {
                #expect(abs(dx[r * cols + c] - ref.dx[c]) <= Self.tolerance)
                refGamma[c] += ref.dGamma[c]
                refBeta[c] += ref.dBeta[c]
            }
        }
        for c in 0..<cols {
            #expect(abs(dGamma[c] - refGamma[c]) <= Self.tolerance * 10)
            #expect(abs(dBeta[c] - refBeta[c]) <= Self.tolerance * 10)
        }
    }

    @Test func layerNormReferenceMatchesFiniteDifferences() {
        let x = Self.values(9, seed: 2), dy = Self.values(9, seed: 4), gamma = Self.values(9, seed: 6)
        let ref = BackwardKernels.layerNormBackwardReference(x: x, dy: dy, gamma: gamma, epsilon: 1e-5)
        func loss(_ v: [Double]) -> Double {
            let n = Double(v.count), mean = v.reduce(0, +) / n
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let inv = 1 / (variance + 1e-5).squareRoot()
            return v.indices.reduce(0) { $0 + Double(dy[$1]) * (v[$1] - mean) * inv * Double(gamma[$1]) }
        }
        for i in x.indices {
            var plus = x.map(Double.init), minus = plus
            plus[i] += 1e-3
            minus[i] -= 1e-3
            let numeric = (loss(plus) - loss(minus)) / 2e-3
            #expect(abs(numeric - Double(ref.dx[i])) <= Self.finiteDifferenceTolerance * max(1, abs(numeric)))
        }
    }

    @Test func geluBackwardMatchesReferenceAndFiniteDifferences() {
        let n = 203
        // Around zero (Φ from its Taylor form) and far into both tails too.
        var x = Self.values(n, seed: 9).map { $0 * 2 }
        x[0] = 0; x[1] = 3e-5; x[2] = -7e-5; x[3] = -9; x[4] = 9; x[5] = -4.5
        let dy = Self.values(n, seed: 13)
        var forward = [Float](repeating: 0, count: n)
        BackwardKernels.gelu(x, into: &forward, count: n)
        var dx = [Float](repeating: 0, count: n)
        BackwardKernels.geluBackward(dy, input: x, output: forward, into: &dx, count: n)
        for i in 0..<n {
            #expect(abs(dx[i] - dy[i] * BackwardKernels.geluDerivativeReference(x[i])) <= Self.tolerance)
            let v = Double(x[i])
            func g(_ t: Double) -> Double { 0.5 * t * (1 + erf(t / 2.0.squareRoot())) }
            let numeric = (g(v + 1e-3) - g(v - 1e-3)) / 2e-3
            #expect(abs(numeric - Double(BackwardKernels.geluDerivativeReference(x[i]))) <= Self.finiteDifferenceTolerance)
        }
        var y = [Float](repeating: 0, count: n)
        BackwardKernels.gelu(x, into: &y, count: n)
        for i in 0..<n { #expect(abs(y[i] - EncoderKernels.geluReference(x[i])) <= Self.tolerance) }
    }

    @Test func softmaxBackwardMatchesReference() {
        let rows = 4, cols = 19
        var p = Self.values(rows * cols, seed: 1)
        for r in 0..<rows {
            let row = EncoderKernels.softmaxReference(Array(p[(r * cols)..<((r + 1) * cols)]))
            p.replaceSubrange((r * cols)..<((r + 1) * cols), with: row)
        }
        let dp = Self.values(rows * cols, seed: 8)
        var parallel = dp, serial = dp
        BackwardKernels.softmaxBackward(&parallel, probabilities: p, rows: rows, cols: cols)
        BackwardKernels.softmaxBackwardRows(&serial, probabilities: p, rows: rows, cols: cols)
        for r in 0..<rows {
            let ref = BackwardKernels.softmaxBackwardReference(dp: Array(dp[(r * cols)..<((r + 1) * cols)]),
                                                               p: Array(p[(r * cols)..<((r + 1) * cols)]))
            for c in 0..<cols {
                #expect(abs(parallel[r * cols + c] - ref[c]) <= Self.tolerance)
                #expect(serial[r * cols + c] == parallel[r * cols + c])
            }
        }
    }

    @Test func linearBackwardMatchesNaiveProducts() {
        let rows = 6, inF = 5, outF = 4
        let x = Self.values(rows * inF, seed: 2), w = Self.values(outF * inF, seed: 3), dy = Self.values(rows * outF, seed: 4)
        var dW = [Float](repeating: 1, count: outF * inF), dB = [Float](repeating: 1, count: outF), dx = [Float](repeating: 0, count: rows * inF)
        BackwardKernels.linearBackward(dy: dy, input: x, weight: w, rows: rows, inFeatures: inF, outFeatures: outF,
                                       dWeight: &dW, dBias: &dB, dx: &dx)
        for o in 0..<outF {
            var b = 1.0
            for r in 0..<rows { b += Double(dy[r * outF + o]) }
            #expect(abs(Double(dB[o]) - b) <= 1e-5)
            for i in 0..<inF {
                var s = 1.0  // accumulated onto the initial 1
                for r in 0..<rows { s += Double(dy[r * outF + o]) * Double(x[r * inF + i]) }
                #expect(abs(Double(dW[o * inF + i]) - s) <= 1e-4)
            }
        }
        for r in 0..<rows {
            for i in 0..<inF {
                var s = 0.0
                for o in 0..<outF { s += Double(dy[r * outF + o]) * Double(w[o * inF + i]) }
                #expect(abs(Double(dx[r * inF + i]) - s) <= 1e-4)
            }
        }
    }
}
