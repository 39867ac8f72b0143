import Foundation
import Tensor

/// `torch.nn.utils.clip_grad_norm_`, the one copy every training path uses.
public enum GradientClipping {
    /// Scales the gradient so its global L2 norm is at most `maxNorm`: the
    /// coefficient maxNorm / (norm + 1e-6), applied when it is below 1
    /// (torch clamps it at 1.0 and multiplies; a factor of 1 changes nothing).
    /// The norm is accumulated in double over `storage` (the gradient memory
    /// as the engine holds it, in order). Returns the norm before clipping.
    @discardableResult
    public static func clipGradNorm(_ storage: [UnsafeMutableBufferPointer<Float>], maxNorm: Float) -> Float {
        let norm = Float(storage.reduce(0.0) { $0 + sumOfSquares(UnsafeBufferPointer($1)) }.squareRoot())
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            for buffer in storage {
                for i in buffer.indices { buffer[i] *= coefficient }
            }
        }
        return norm
    }

    /// `clipGradNorm` over one flat gradient array.
    @discardableResult
    public static func clipGradNorm(_ gradients: inout [Float], maxNorm: Float) -> Float {
        gradients.withUnsafeMutableBufferPointer { clipGradNorm([$0], maxNorm: maxNorm) }
    }

    /// Σ v² in double, split over the workers with four-lane accumulators (a
    /// serial double sum over MiniLM's 22.7M gradients was 1.5% of a step).
    static func sumOfSquares(_ buffer: UnsafeBufferPointer<Float>) -> Double {
        let n = buffer.count
        guard n > 0, let base = buffer.baseAddress else { return 0 }
        let parts = max(1, min(Parallel.threadCount, n >> 16))
        let partials = UnsafeMutablePointer<Double>.allocate(capacity: parts)
        defer { partials.deallocate() }
        let out = UncheckedSendable(partials), input = UncheckedSendable(base)
        Parallel.forEach(0..<parts, chunks: parts) { range in
            for part in range {
                let lo = n * part / parts, hi = n * (part + 1) / parts
                let p = input.value
                var a0 = SIMD4<Double>(), a1 = SIMD4<Double>()
                var i = lo
                while i + 8 <= hi {
                    let v = loadF8(p + i)
                    let x0 = SIMD4<Double>(v.lowHalf), x1 = SIMD4<Double>(v.highHalf)
                    a0 += x0 * x0
                    a1 += x1 * x1
                    i += 8
                }
                var s = (a0 + a1).sum()
                while i < hi { s += Double(p[i]) * Double(p[i]); i += 1 }
                out.value[part] = s
            }
        }
        return (0..<parts).reduce(0.0) { $0 + partials[$1] }
    }
}
