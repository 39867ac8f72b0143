import Foundation
import Tensor

/// Sums gradients over micro-batches until an optimizer step, by parameter
/// name, and applies the step-level operations: averaging over accumulated
/// micro-batches and global-norm clipping (`torch.nn.utils.clip_grad_norm_`).
public struct GradientAccumulator: Sendable, Equatable {
    /// Parameter names in the order they were first added (deterministic sums).
    public private(set) var names: [String] = []
    public private(set) var gradients: [String: [Float]] = [:]
    /// Micro-batches added since the last `reset()`.
    public private(set) var microBatches = 0

    public init() {}

    /// Adds `scale · gradient` into the sum for `name`.
    public mutating func add(_ name: String, _ gradient: UnsafePointer<Float>, count: Int, scale: Float = 1) {
        if gradients[name] == nil {
            names.append(name)
            gradients[name] = [Float](repeating: 0, count: count)
        }
        gradients[name]!.withUnsafeMutableBufferPointer { g in
            precondition(g.count == count, "GradientAccumulator: \(name) has \(g.count) values, got \(count)")
            for i in 0..<count { g[i] += scale * gradient[i] }
        }
    }

    public mutating func add(_ name: String, _ gradient: [Float], scale: Float = 1) {
        gradient.withUnsafeBufferPointer { add(name, $0.baseAddress!, count: $0.count, scale: scale) }
    }

    /// Marks the end of one micro-batch's contributions.
    public mutating func finishMicroBatch() { microBatches += 1 }

    /// Multiplies every gradient by `factor` (e.g. 1 / micro-batches).
    public mutating func scale(by factor: Float) {
        for name in names {
            gradients[name]!.withUnsafeMutableBufferPointer { g in
                for i in g.indices { g[i] *= factor }
            }
        }
    }

    /// The L2 norm over all gradients, accumulated in double.
    public var globalNorm: Float {
        Float(names.reduce(0.0) { $0 + Self.sumOfSquares(gradients[$1]!) }.squareRoot())
    }

    /// Scales the gradients so their global norm is at most `maxNorm`, as
    /// `clip_grad_norm_` (coefficient maxNorm / (norm + 1e-6), clamped at 1).
    /// Returns the norm before clipping.
    @discardableResult
    public mutating func clipGlobalNorm(_ maxNorm: Float) -> Float {
        let norm = globalNorm
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 { scale(by: coefficient) }
        return norm
    }

    public func gradient(_ name: String) -> [Float]? { gradients[name] }

    /// Forgets all gradients (after an optimizer step).
    public mutating func reset() {
        names = []
        gradients = [:]
        microBatches = 0
    }

    /// Splits `count` examples of one optimizer step into micro-batches of at
    /// most `size` (the last may be smaller).
    public static func microBatchRanges(count: Int, size: Int) -> [Range<Int>] {
        precondition(size > 0, "micro-batch size must be positive")
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }
}
