import Foundation

/// Raw-pointer kernels for transformer encoders working on packed, row-major
/// `[rows, cols]` activations. They take pointers rather than `Tensor`s so a
/// forward pass can run over preallocated scratch buffers without copies.
///
/// Each fast kernel has a plain scalar reference beside it (`…Reference`);
/// tests check that the two agree.
public enum EncoderKernels {
    /// GELU, erf form, for 8 lanes (PyTorch `gelu`, transformers `"gelu"`).
    @inline(__always)
    public static func gelu8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        0.5 * x * (1 + erf8(x * 0.707_106_781_186_547_6))
    }

    public static func geluReference(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.erf(x / Float(2).squareRoot()))
    }

    /// `y[r, c] = gelu(x[r, c] + bias[c])` over `[rows, cols]`, in parallel,
    /// in place when `y` is nil. With a `y`, `x` keeps the pre-activation
    /// x + bias (what GELU's backward reads), still in one pass.
    public static func biasGELU(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>? = nil
    ) {
        Parallel.forEach(0..<rows, minimumChunk: 16) { range in
            for r in range {
                let row = x + r * cols, out = (y ?? x) + r * cols
                var c = 0
                while c + 8 <= cols {
                    let v = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
                        + UnsafeRawPointer(bias + c).loadUnaligned(as: SIMD8<Float>.self)
                    if y != nil { UnsafeMutableRawPointer(row + c).storeBytes(of: v, as: SIMD8<Float>.self) }
                    UnsafeMutableRawPointer(out + c).storeBytes(of: gelu8(v), as: SIMD8<Float>.self)
                    c += 8
                }
                while c < cols {
                    let v = row[c] + bias[c]
                    row[c] = v
                    out[c] = geluReference(v)
                    c += 1
                }
            }
        }
    }

    /// Numerically stable softmax of one row of `count` values, in place
    /// (the decoder's row kernel: vector max, exp and scale).
    @inline(__always)
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.softmaxRow(x, count, 1)
    }

    public static func softmaxReference(_ x: [Float]) -> [Float] {
        guard let m = x.max() else { return [] }
        let e = x.map { Foundation.exp(Double($0 - m)) }
        let s = e.reduce(0, +)
        return e.map { Float($0 / s) }
    }

    /// `output[r] = LayerNorm((x[r] + bias)·mask[r] + residual[r])` over rows
    /// of `cols`, in parallel: a sublayer's bias, dropout, residual and
    /// LayerNorm in one pass over the rows. Without a mask the sum is
    /// x + (bias + residual). `output` may alias `residual` (the encoder's
    /// running hidden state). A training pass also keeps what LayerNorm's
    /// backward needs: x̂ in `normalized` and 1/σ per row in `inverseStd`.
    public static func biasResidualLayerNorm(
        _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>, mask: UnsafePointer<Float>? = nil,
        residual: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
        normalized: UnsafeMutablePointer<Float>? = nil, inverseStd: UnsafeMutablePointer<Float>? = nil
    ) {
        Parallel.forEach(0..<rows, minimumChunk: 32) { range in
            for r in range {
                let src = x + r * cols, res = residual + r * cols, dst = output + r * cols
                var sum: Float = 0
                if let mask {
                    let m = mask + r * cols
                    for c in 0..<cols {
                        let v = (src[c] + bias[c]) * m[c] + res[c]
                        dst[c] = v
                        sum += v
                    }
                } else {
                    for c in 0..<cols {
                        let v = src[c] + (bias[c] + res[c])
                        dst[c] = v
                        sum += v
                    }
                }
                let mean = sum / Float(cols)
                if let normalized, let inverseStd {
                    var sq: Float = 0
                    for c in 0..<cols {
                        let d = dst[c] - mean
                        sq += d * d
                    }
                    let inv = 1 / (sq / Float(cols) + epsilon).squareRoot()
                    inverseStd[r] = inv
                    let xhat = normalized + r * cols
                    for c in 0..<cols {
                        let n = (dst[c] - mean) * inv
                        xhat[c] = n
                        dst[c] = n * gamma[c] + beta[c]
                    }
                } else {
                    layerNormRow(dst, cols: cols, mean: mean, gamma: gamma, beta: beta, epsilon: epsilon)
                }
            }
        }
    }

    /// LayerNorm of each row of `x` in place.
    public static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        Parallel.forEach(0..<rows, minimumChunk: 32) { range in
            for r in range {
                let row = x + r * cols
                var sum: Float = 0
                for c in 0..<cols { sum += row[c] }
                layerNormRow(row, cols: cols, mean: sum / Float(cols), gamma: gamma, beta: beta, epsilon: epsilon)
            }
        }
    }

    @inline(__always)
    static func layerNormRow(
        _ row: UnsafeMutablePointer<Float>, cols: Int, mean: Float,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        // Two-pass variance (as PyTorch), not E[x²] − E[x]², which cancels badly.
        var sq: Float = 0
        for c in 0..<cols {
            let d = row[c] - mean
            sq += d * d
        }
        let inv = 1 / (sq / Float(cols) + epsilon).squareRoot()
        for c in 0..<cols {
            row[c] = (row[c] - mean) * inv * gamma[c] + beta[c]
        }
    }

    public static func layerNormReference(_ x: [Float], gamma: [Float], beta: [Float], epsilon: Float) -> [Float] {
        let n = Double(x.count)
        let mean = x.reduce(0.0) { $0 + Double($1) } / n
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let inv = 1 / (variance + Double(epsilon)).squareRoot()
        return x.indices.map { Float((Double(x[$0]) - mean) * inv) * gamma[$0] + beta[$0] }
    }

    /// `x[r, c] += bias[c]`, in parallel.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        Parallel.forEach(0..<rows, minimumChunk: 64) { range in
            for r in range {
                let row = x + r * cols
                for c in 0..<cols { row[c] += bias[c] }
            }
        }
    }
}
