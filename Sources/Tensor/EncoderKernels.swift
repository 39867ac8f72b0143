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

    /// `x[r, c] = gelu(x[r, c] + bias[c])` over `[rows, cols]`, in parallel.
    public static func biasGELU(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>
    ) {
        Parallel.forEach(0..<rows, minimumChunk: 16) { range in
            for r in range {
                let row = x + r * cols
                var c = 0
                while c + 8 <= cols {
                    let v = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
                        + UnsafeRawPointer(bias + c).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(row + c).storeBytes(of: gelu8(v), as: SIMD8<Float>.self)
                    c += 8
                }
                while c < cols {
                    row[c] = geluReference(row[c] + bias[c])
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

    /// `x[r] = LayerNorm(x[r] + residual[r] (+ bias))` over rows of `cols`,
    /// written into `residual` (the encoder's running hidden state), in parallel.
    /// Fusing the bias add and residual saves two passes over the activations.
    public static func biasResidualLayerNorm(
        _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        residual: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        Parallel.forEach(0..<rows, minimumChunk: 32) { range in
            for r in range {
                let src = x + r * cols
                let dst = residual + r * cols
                var sum: Float = 0
                for c in 0..<cols {
                    var v = src[c] + dst[c]
                    if let bias { v += bias[c] }
                    dst[c] = v
                    sum += v
                }
                layerNormRow(dst, cols: cols, mean: sum / Float(cols), gamma: gamma, beta: beta, epsilon: epsilon)
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
