import Foundation
import Tensor

/// PyTorch's `torch.optim.AdamW` (single-tensor path, `amsgrad=False`,
/// `maximize=False`), step for step in f32:
///
///     p ← p · (1 − lr·λ)                      decoupled weight decay
///     m ← m + (1 − β₁)·(g − m)                 (`lerp_`)
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)   ε outside the root
///
/// Moments are kept per parameter name, created at zero on first use. `step`
/// counts optimizer steps (t above); call `beginStep()` once per step before
/// updating the parameters of that step.
public struct AdamW: Sendable, Equatable {
    public struct Configuration: Sendable, Codable, Equatable {
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        /// λ: torch's default is 1e-2 (transformers' Trainer uses 0).
        public var weightDecay: Float

        public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }

        public func validate() throws {
            guard beta1 >= 0, beta1 < 1 else { throw TrainingError.invalidParameter(name: "beta1", reason: "must be in [0, 1), got \(beta1)") }
            guard beta2 >= 0, beta2 < 1 else { throw TrainingError.invalidParameter(name: "beta2", reason: "must be in [0, 1), got \(beta2)") }
            guard epsilon >= 0 else { throw TrainingError.invalidParameter(name: "epsilon", reason: "must be >= 0, got \(epsilon)") }
            guard weightDecay >= 0 else { throw TrainingError.invalidParameter(name: "weight-decay", reason: "must be >= 0, got \(weightDecay)") }
        }
    }

    public var configuration: Configuration
    /// Optimizer steps taken (t of the bias corrections).
    public private(set) var step: Int
    public private(set) var firstMoments: [String: [Float]]
    public private(set) var secondMoments: [String: [Float]]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        step = 0
        firstMoments = [:]
        secondMoments = [:]
    }

    /// Restores a saved state (see `TrainingCheckpoint`).
    public init(configuration: Configuration, step: Int, firstMoments: [String: [Float]], secondMoments: [String: [Float]]) throws {
        guard step >= 0 else { throw TrainingError.invalidParameter(name: "step", reason: "negative optimizer step \(step)") }
        guard Set(firstMoments.keys) == Set(secondMoments.keys) else {
            throw TrainingError.invalidParameter(name: "moments", reason: "first and second moments name different parameters")
        }
        for (name, m) in firstMoments where secondMoments[name]?.count != m.count {
            throw TrainingError.invalidParameter(name: "moments", reason: "moments of \(name) differ in size")
        }
        self.configuration = configuration
        self.step = step
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }

    /// Starts optimizer step t + 1; the updates that follow use its bias corrections.
    public mutating func beginStep() { step += 1 }

    /// Updates one parameter in place from its gradient. `decay: false`
    /// exempts it from weight decay (biases and LayerNorm weights, as
    /// transformers' Trainer and sentence-transformers group them).
    public mutating func update(
        _ name: String, parameter: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int,
        learningRate: Float, decay: Bool = true
    ) {
        precondition(step > 0, "AdamW.update before beginStep()")
        var m = firstMoments.removeValue(forKey: name) ?? [Float](repeating: 0, count: count)
        var v = secondMoments.removeValue(forKey: name) ?? [Float](repeating: 0, count: count)
        precondition(m.count == count && v.count == count, "AdamW: parameter \(name) changed size")
        let c = configuration
        let t = Double(step)
        // Scalars as PyTorch forms them: Python floats (double), rounded to f32 when applied.
        let decayFactor = Float(1 - Double(learningRate) * Double(decay ? c.weightDecay : 0))
        let correction1 = 1 - Foundation.pow(Double(c.beta1), t)
        let correction2Root = (1 - Foundation.pow(Double(c.beta2), t)).squareRoot()
        let stepSize = Float(Double(learningRate) / correction1)
        let root = Float(correction2Root)
        let oneMinusBeta1 = Float(1 - Double(c.beta1)), oneMinusBeta2 = Float(1 - Double(c.beta2))
        let beta2 = c.beta2, eps = c.epsilon
        let pp = UncheckedSendable(parameter), gp = UncheckedSendable(gradient)
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                let mp = UncheckedSendable(mb.baseAddress!), vp = UncheckedSendable(vb.baseAddress!)
                Parallel.forEach(0..<count, minimumChunk: 1 << 16) { range in
                    let p = pp.value, g = gp.value, m = mp.value, v = vp.value
                    // Eight lanes at a time (the scalar loop was not vectorised: 4% of a
                    // cross-encoder step), with the tail's operations in the same order,
                    // so every element gets the same f32 result either way.
                    var i = range.lowerBound
                    while i + 8 <= range.upperBound {
                        var pv = loadF8(p + i), mv = loadF8(m + i), vv = loadF8(v + i)
                        let gv = loadF8(g + i)
                        if decayFactor != 1 { pv *= decayFactor }
                        mv += oneMinusBeta1 * (gv - mv)
                        vv = vv * beta2 + oneMinusBeta2 * gv * gv
                        let denominator = vv.squareRoot() / root + eps
                        pv -= stepSize * (mv / denominator)
                        storeF8(pv, p + i); storeF8(mv, m + i); storeF8(vv, v + i)
                        i += 8
                    }
                    while i < range.upperBound {
                        if decayFactor != 1 { p[i] *= decayFactor }
                        m[i] += oneMinusBeta1 * (g[i] - m[i])
                        v[i] = v[i] * beta2 + oneMinusBeta2 * g[i] * g[i]
                        let denominator = v[i].squareRoot() / root + eps
                        p[i] -= stepSize * (m[i] / denominator)
                        i += 1
                    }
                }
            }
        }
        firstMoments[name] = m
        secondMoments[name] = v
    }

    /// Array form of `update(_:parameter:gradient:count:learningRate:decay:)`.
    public mutating func update(_ name: String, parameter: inout [Float], gradient: [Float], learningRate: Float, decay: Bool = true) {
        precondition(parameter.count == gradient.count, "AdamW: \(name) has \(parameter.count) values, gradient \(gradient.count)")
        let count = parameter.count
        parameter.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                update(name, parameter: p.baseAddress!, gradient: g.baseAddress!, count: count, learningRate: learningRate, decay: decay)
            }
        }
    }
}
