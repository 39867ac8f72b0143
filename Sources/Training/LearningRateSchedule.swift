import Foundation

/// The learning rate of each optimizer step, as transformers' schedulers
/// compute it (`get_cosine_schedule_with_warmup`, `get_linear_schedule_with_warmup`,
/// `get_constant_schedule_with_warmup`): a multiplier of the peak rate that
/// rises linearly over the warmup steps (from 0 at step 0), then follows the
/// chosen decay. Step indices are 0-based: step s is the s-th optimizer update,
/// so with warmup the first update runs at rate 0, as in the Trainer.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case cosine, linear, constant
    }

    public var kind: Kind
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind, peak: Float, warmupSteps: Int, totalSteps: Int) throws {
        guard peak >= 0, peak.isFinite else { throw TrainingError.invalidParameter(name: "lr", reason: "must be a finite number >= 0, got \(peak)") }
        guard totalSteps > 0 else { throw TrainingError.invalidParameter(name: "total steps", reason: "must be positive, got \(totalSteps)") }
        guard warmupSteps >= 0, warmupSteps <= totalSteps else {
            throw TrainingError.invalidParameter(name: "warmup steps", reason: "must be in 0...\(totalSteps), got \(warmupSteps)")
        }
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// Warmup from a ratio of the total, rounded up as transformers'
    /// `TrainingArguments.get_warmup_steps` does.
    public init(kind: Kind, peak: Float, warmupRatio: Double, totalSteps: Int) throws {
        guard warmupRatio >= 0, warmupRatio <= 1 else {
            throw TrainingError.invalidParameter(name: "warmup-ratio", reason: "must be in [0, 1], got \(warmupRatio)")
        }
        try self.init(kind: kind, peak: peak, warmupSteps: Int((Double(totalSteps) * warmupRatio).rounded(.up)), totalSteps: totalSteps)
    }

    /// The multiplier of `peak` at step `step` (0-based).
    public func multiplier(at step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            // num_cycles = 0.5: half a cosine from 1 down to 0.
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + Foundation.cos(Double.pi * 2 * 0.5 * progress)))
        }
    }

    /// The learning rate at step `step` (0-based), rounded to f32 as PyTorch
    /// hands it to the optimizer's f32 arithmetic.
    public func learningRate(at step: Int) -> Float {
        Float(Double(peak) * multiplier(at: step))
    }
}
