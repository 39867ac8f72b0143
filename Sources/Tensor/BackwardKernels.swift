import Foundation

/// Backward passes of the encoder's element-wise and row kernels, for
/// training, on packed row-major `[rows, cols]` buffers like `EncoderKernels`.
/// Each parallel kernel has a plain `…Reference` beside it; tests compare them
/// (and the references against finite differences).
public enum BackwardKernels {
    /// LayerNorm forward that also keeps what its backward needs: the
    /// normalised rows x̂ = (x − mean)·rstd and rstd per row. `y` may alias `x`.
    public static func layerNormForward(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
        output y: UnsafeMutablePointer<Float>, normalized: UnsafeMutablePointer<Float>?, inverseStd: UnsafeMutablePointer<Float>?
    ) {
        // Without x̂ and rstd to keep (inference) the same arithmetic runs without the stores.
        Parallel.forEach(0..<rows, minimumChunk: 32) { range in
            for r in range {
                let src = x + r * cols, dst = y + r * cols
                var sum: Float = 0
                for c in 0..<cols { sum += src[c] }
                let mean = sum / Float(cols)
                var sq: Float = 0
                for c in 0..<cols {
                    let d = src[c] - mean
                    sq += d * d
                }
                let inv = 1 / (sq / Float(cols) + epsilon).squareRoot()
                if let normalized, let inverseStd {
                    let xhat = normalized + r * cols
                    inverseStd[r] = inv
                    for c in 0..<cols {
                        let n = (src[c] - mean) * inv
                        xhat[c] = n
                        dst[c] = n * gamma[c] + beta[c]
                    }
                } else {
                    for c in 0..<cols { dst[c] = (src[c] - mean) * inv * gamma[c] + beta[c] }
                }
            }
        }
    }

    /// LayerNorm backward. From dy and the forward's x̂ and rstd:
    /// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ, written to `dx`
    /// (may alias `dy`); dγ += Σ dy·x̂ and dβ += Σ dy over rows (accumulated,
    /// so callers zero them once per step).
    public static func layerNormBackward(
        _ dy: UnsafePointer<Float>, normalized: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, rows: Int, cols: Int,
        dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>
    ) {
        // Parameter gradients: column sums, split over columns (no write races).
        Parallel.forEach(0..<cols, minimumChunk: 64) { range in
            for r in 0..<rows {
                let g = dy + r * cols, n = normalized + r * cols
                for c in range {
                    dGamma[c] += g[c] * n[c]
                    dBeta[c] += g[c]
                }
            }
        }
        Parallel.forEach(0..<rows, minimumChunk: 32) { range in
            for r in range {
                let g = dy + r * cols, n = normalized + r * cols, out = dx + r * cols
                var sumG: Float = 0, sumGN: Float = 0
                for c in 0..<cols {
                    let gh = g[c] * gamma[c]
                    sumG += gh
                    sumGN += gh * n[c]
                }
                let meanG = sumG / Float(cols), meanGN = sumGN / Float(cols), inv = inverseStd[r]
                for c in 0..<cols {
                    out[c] = inv * (g[c] * gamma[c] - meanG - n[c] * meanGN)
                }
            }
        }
    }

    /// One row's LayerNorm backward in double, from the raw input.
    public static func layerNormBackwardReference(
        x: [Float], dy: [Float], gamma: [Float], epsilon: Float
    ) -> (dx: [Float], dGamma: [Float], dBeta: [Float]) {
        let n = Double(x.count)
        let mean = x.reduce(0.0) { $0 + Double($1) } / n
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let inv = 1 / (variance + Double(epsilon)).squareRoot()
        let xhat = x.map { (Double($0) - mean) * inv }
        let g = x.indices.map { Double(dy[$0]) * Double(gamma[$0]) }
        let meanG = g.reduce(0, +) / n
        let meanGN = x.indices.reduce(0.0) { $0 + g[$1] * xhat[$1] } / n
        let dx = x.indices.map { Float(inv * (g[$0] - meanG - xhat[$0] * meanGN)) }
        return (dx, x.indices.map { Float(Double(dy[$0]) * xhat[$0]) }, dy)
    }

    /// dx = dy · gelu′(x) for the erf GELU: gelu′(x) = Φ(x) + x·φ(x), with Φ
    /// read back from the forward pass's own output y = x·Φ(x) as y / x (a
    /// product and a quotient: a few ulp) and 0.5 + x·φ(0) where |x| < 1e-4
    /// (error below 1e-12): the backward pass then costs an exp, not the two
    /// erfs of recomputing GELU and Φ (erf was a tenth of a training step).
    /// `dx` may alias `dy`.
    public static func geluBackward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                                    into dx: UnsafeMutablePointer<Float>, count: Int) {
        let invRoot2Pi: Float = 0.398_942_280_401_432_7, small: Float = 1e-4
        Parallel.forEach(0..<count, minimumChunk: 1 << 14) { range in
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let v = loadF8(x + i)
                var cdf = loadF8(y + i) / v
                cdf.replace(with: 0.5 + v * invRoot2Pi, where: (v .< small) .& (v .> -small))
                let pdf = exp8(-0.5 * v * v) * invRoot2Pi
                storeF8(loadF8(dy + i) * (cdf + v * pdf), dx + i)
                i += 8
            }
            while i < range.upperBound {
                let v = x[i]
                let cdf = abs(v) < small ? 0.5 + v * invRoot2Pi : y[i] / v
                dx[i] = dy[i] * (cdf + v * Foundation.exp(-0.5 * v * v) * invRoot2Pi)
                i += 1
            }
        }
    }

    public static func geluDerivativeReference(_ x: Float) -> Float {
        let v = Double(x)
        let cdf = 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot()))
        let pdf = Foundation.exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
        return Float(cdf + v * pdf)
    }

    /// y = gelu(x) out of place (the forward value recomputed in backward).
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(0..<count, minimumChunk: 1 << 14) { range in
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                storeF8(EncoderKernels.gelu8(loadF8(x + i)), y + i)
                i += 8
            }
            while i < range.upperBound {
                y[i] = EncoderKernels.geluReference(x[i])
                i += 1
            }
        }
    }

    /// Softmax backward per row, in place on `dp`: ds = p ∘ (dp − Σ dp∘p).
    public static func softmaxBackward(_ dp: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, rows: Int, cols: Int) {
        Parallel.forEach(0..<rows, minimumChunk: 64) { range in
            for r in range {
                let g = dp + r * cols, q = p + r * cols
                let dot = dot8(g, q, cols)
                for c in 0..<cols { g[c] = q[c] * (g[c] - dot) }
            }
        }
    }

    public static func softmaxBackwardReference(dp: [Float], p: [Float]) -> [Float] {
        let dot = p.indices.reduce(0.0) { $0 + Double(dp[$1]) * Double(p[$1]) }
        return p.indices.map { Float(Double(p[$0]) * (Double(dp[$0]) - dot)) }
    }

    /// sums[c] += Σ_r x[r, c] (a bias gradient), split over columns.
    public static func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>) {
        Parallel.forEach(0..<cols, minimumChunk: 64) { range in
            for r in 0..<rows {
                let row = x + r * cols
                for c in range { sums[c] += row[c] }
            }
        }
    }

    /// Linear backward for y = x·Wᵀ (+ b), W stored (out, in):
    /// dW += dyᵀ·x, db += Σ dy, and dx = dy·W (or dx += dy·W with `accumulate`).
    public static func linearBackward(
        dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int,
        dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
        dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false
    ) {
        BLAS.sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows,
                   a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
        if let dBias { addColumnSums(dy, rows: rows, cols: outFeatures, into: dBias) }
        if let dx {
            BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: w, ldb: inFeatures,
                       beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
        }
    }
}

extension BackwardKernels {
    /// `softmaxBackward` on the calling thread (for callers already split over threads).
    public static func softmaxBackwardRows(_ dp: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let g = dp + r * cols, q = p + r * cols
            let dot = dot8(g, q, cols)
            for c in 0..<cols { g[c] = q[c] * (g[c] - dot) }
        }
    }
}
