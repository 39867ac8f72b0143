import Foundation
import Tensor

/// One weight matrix of a layer as the layer's forward pass applies it,
/// whatever holds the weights: inference keeps them quantised
/// (`QuantizedMatrix`), training as dense f32 (`DenseProjection`), and LoRA
/// wraps either (`LoRAProjection`, mlx-swift-lm's `LoRALinear`). The layer
/// forward is written once against this protocol, so training and inference
/// run the same code.
public protocol LinearProjection: Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    /// y[n, outputRows.count] = x[n, in] · W[outputRows]ᵀ (+ bias[outputRows]).
    /// `activations` is the decode arithmetic of quantised weights; `record`
    /// receives what this projection's backward needs beyond x.
    func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
               bias: UnsafePointer<Float>?, activations: ActivationPrecision, record: ProjectionRecord?)
}

/// What a projection's backward pass needs from its forward beyond its input:
/// for LoRA, x·Aᵀ (n, rank). Filled by a recording forward, read by training.
public final class ProjectionRecord: @unchecked Sendable {
    public var loraInput: FloatBuffer?
    public init() {}
}

extension QuantizedMatrix: LinearProjection {
    public var outFeatures: Int { rows }
    public var inFeatures: Int { cols }

    public func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
                      bias: UnsafePointer<Float>?, activations: ActivationPrecision, record: ProjectionRecord?) {
        let m = outputRows == 0..<rows ? self : rowSlice(outputRows)
        m.apply(x, n: n, into: y, bias: bias.map { $0 + outputRows.lowerBound }, activations: activations)
    }
}

/// An f32 (out, in) row-major matrix, always applied as one sgemm (training's
/// frozen base weights: the same arithmetic at every row count).
public struct DenseProjection: LinearProjection {
    public let weight: FloatBuffer
    public let outFeatures: Int, inFeatures: Int

    public init(weight: FloatBuffer, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures, "dense weight of \(weight.count) floats is not \(outFeatures) x \(inFeatures)")
        self.weight = weight
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// Dequantises `matrix`.
    public init(_ matrix: QuantizedMatrix) {
        let b = FloatBuffer(count: matrix.rows * matrix.cols)
        matrix.dequantizeRows(0..<matrix.rows, into: b.p)
        self.init(weight: b, outFeatures: matrix.rows, inFeatures: matrix.cols)
    }

    public func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
                      bias: UnsafePointer<Float>?, activations: ActivationPrecision, record: ProjectionRecord?) {
        let m = outputRows.count, k = inFeatures
        if let bias { for r in 0..<n { (y + r * m).update(from: bias + outputRows.lowerBound, count: m) } }
        BLAS.sgemm(transB: true, m: n, n: m, k: k, a: x, lda: k, b: weight.p + outputRows.lowerBound * k, ldb: k,
                   beta: bias == nil ? 0 : 1, c: y, ldc: m)
    }
}

/// A LoRA pair applied beside a base projection: A (rank, in), B (out, rank),
/// y += scaling · (x Aᵀ) Bᵀ. The buffers are the trainer's own, updated in place.
public struct LoRAWeights: Sendable {
    public var a: FloatBuffer, b: FloatBuffer
    public var rank: Int, scaling: Float

    public init(a: FloatBuffer, b: FloatBuffer, rank: Int, scaling: Float) {
        self.a = a
        self.b = b
        self.rank = rank
        self.scaling = scaling
    }
}

/// A base projection with an optional LoRA pair (nil: the base alone), which
/// records x Aᵀ for the backward pass when asked.
public struct LoRAProjection<Base: LinearProjection>: LinearProjection {
    public var base: Base
    public var adapter: LoRAWeights?

    public init(base: Base, adapter: LoRAWeights?) {
        self.base = base
        self.adapter = adapter
    }

    public var outFeatures: Int { base.outFeatures }
    public var inFeatures: Int { base.inFeatures }

    public func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
                      bias: UnsafePointer<Float>?, activations: ActivationPrecision, record: ProjectionRecord?) {
        base.apply(x, n: n, into: y, outputRows: outputRows, bias: bias, activations: activations, record: nil)
        guard let adapter else { return }
        let r = adapter.rank, k = inFeatures, m = outputRows.count
        let xa = FloatBuffer(count: n * r)  // (n, rank)
        BLAS.sgemm(transB: true, m: n, n: r, k: k, a: x, lda: k, b: adapter.a.p, ldb: k, c: xa.p, ldc: r)
        BLAS.sgemm(transB: true, m: n, n: m, k: r, alpha: adapter.scaling, a: xa.p, lda: r,
                   b: adapter.b.p + outputRows.lowerBound * r, ldb: r, beta: 1, c: y, ldc: m)
        record?.loraInput = xa
    }
}
