import Foundation
import Tensor

/// Hyper-parameters of a cross-encoder run (the `limrank train` flags).
public struct CrossEncoderTrainingOptions: Sendable, Codable, Equatable {
    public var epochs: Int = 1
    /// Caps the run at this many optimizer steps (overrides epochs, as transformers' max_steps).
    public var maxSteps: Int?
    /// Examples per micro-batch; an optimizer step sees batchSize × gradientAccumulation.
    public var batchSize: Int = 16
    public var gradientAccumulation: Int = 1
    public var learningRate: Float = 2e-5
    public var schedule: LearningRateSchedule.Kind = .linear
    public var warmupRatio: Double = 0.1
    public var weightDecay: Float = 0.01
    public var maxGradientNorm: Float = 1
    public var seed: UInt64 = 12345
    /// Write a checkpoint every this many steps (0: only at the end).
    public var checkpointEvery: Int = 0
    /// Checkpoints kept on disk (the newest).
    public var keepCheckpoints: Int = 2

    public init() {}

    public var examplesPerStep: Int { batchSize * gradientAccumulation }

    public func validate() throws {
        guard epochs >= 1 else { throw TrainingError.invalidParameter(name: "epochs", reason: "must be at least 1, got \(epochs)") }
        if let maxSteps, maxSteps < 1 { throw TrainingError.invalidParameter(name: "max-steps", reason: "must be at least 1, got \(maxSteps)") }
        guard batchSize >= 1 else { throw TrainingError.invalidParameter(name: "batch-size", reason: "must be at least 1, got \(batchSize)") }
        guard gradientAccumulation >= 1 else {
            throw TrainingError.invalidParameter(name: "grad-accum", reason: "must be at least 1, got \(gradientAccumulation)")
        }
        guard learningRate > 0, learningRate.isFinite else { throw TrainingError.invalidParameter(name: "lr", reason: "must be positive, got \(learningRate)") }
        guard checkpointEvery >= 0 else { throw TrainingError.invalidParameter(name: "checkpoint-every", reason: "must be >= 0") }
        guard maxGradientNorm > 0 else { throw TrainingError.invalidParameter(name: "max-grad-norm", reason: "must be positive") }
        try AdamW.Configuration(weightDecay: weightDecay).validate()
    }

    /// Optimizer steps over `count` training examples.
    public func totalSteps(examples count: Int) -> Int {
        let perEpoch = (count + examplesPerStep - 1) / examplesPerStep
        return maxSteps ?? perEpoch * epochs
    }

    /// The facts a resumed run must share with the run that wrote the checkpoint.
    var runFacts: [String: String] {
        ["epochs": "\(epochs)", "max_steps": "\(maxSteps.map(String.init) ?? "-")", "batch_size": "\(batchSize)",
         "grad_accum": "\(gradientAccumulation)", "lr": "\(learningRate)", "schedule": schedule.rawValue,
         "warmup_ratio": "\(warmupRatio)", "weight_decay": "\(weightDecay)", "max_grad_norm": "\(maxGradientNorm)",
         "seed": "\(seed)"]
    }
}

/// What a run did.
public struct CrossEncoderTrainingSummary: Sendable {
    public var steps: Int
    public var totalSteps: Int
    public var resumedFrom: Int?
    public var examples: Int
    public var losses: [Float]
    public var validationLoss: Float?
    public var seconds: Double
    public var tokens: Int
}

/// The training loop: shuffled micro-batches, accumulated gradients,
/// global-norm clipping, AdamW under the schedule, periodic checkpoints and a
/// validation loss. Deterministic under a seed: a run resumed from a
/// checkpoint ends with the same weights as one that never stopped.
public struct CrossEncoderTrainer: Sendable {
    public var model: BERTTraining
    public let training: [BERTTrainingExample]
    public let validation: [BERTTrainingExample]
    public let options: CrossEncoderTrainingOptions
    /// Extra facts that must match on resume (data and base model fingerprints).
    public var runFacts: [String: String]

    public init(model: BERTTraining, training: [BERTTrainingExample], validation: [BERTTrainingExample] = [],
                options: CrossEncoderTrainingOptions, runFacts: [String: String] = [:]) throws {
        try options.validate()
        guard !training.isEmpty else { throw TrainingError.emptyDataSet(file: runFacts["data"] ?? "training data") }
        self.model = model
        self.training = training
        self.validation = validation
        self.options = options
        self.runFacts = runFacts.merging(options.runFacts) { a, _ in a }
    }

    /// Splits examples into training and validation sets: a seeded shuffle,
    /// `fraction` of them (at least one when fraction > 0 and there are two or
    /// more) held out.
    public static func split(_ examples: [BERTTrainingExample], validationFraction fraction: Double, seed: UInt64) throws
        -> (training: [BERTTrainingExample], validation: [BERTTrainingExample]) {
        guard fraction >= 0, fraction < 1 else {
            throw TrainingError.invalidParameter(name: "validation-fraction", reason: "must be in [0, 1), got \(fraction)")
        }
        guard fraction > 0, examples.count >= 2 else { return (examples, []) }
        var rng = TrainingRNG(seed: seed, stream: 0x5641_4C49)  // "VALI"
        let order = rng.permutation(examples.count)
        let held = min(examples.count - 1, max(1, Int((Double(examples.count) * fraction).rounded())))
        let heldSet = Set(order.prefix(held))
        return (examples.indices.filter { !heldSet.contains($0) }.map { examples[$0] },
                order.prefix(held).sorted().map { examples[$0] })
    }

    /// Mean BCE over the validation set (forward only), nil when there is none.
    public func validationLoss() throws -> Float? {
        guard !validation.isEmpty else { return nil }
        var sum = 0.0
        for range in GradientAccumulator.microBatchRanges(count: validation.count, size: options.batchSize) {
            let batch = try model.batch(Array(validation[range]))
            sum += Double(BERTTraining.binaryCrossEntropy(logits: model.logits(batch), labels: batch.labels)) * Double(range.count)
        }
        return Float(sum / Double(validation.count))
    }

    /// Trains to the end (or `stopAfter` steps, to simulate a crash in tests).
    /// With `checkpointDirectory`, writes a checkpoint every
    /// `options.checkpointEvery` steps and at the end; with `resume`, starts
    /// from the newest checkpoint there.
    /// `afterStep` runs after each optimizer step (and its checkpoint), with the step count.
    public mutating func train(checkpointDirectory: URL?, resume: Bool = false, stopAfter: Int? = nil,
                               progress: ProgressReporter? = nil,
                               afterStep: ((Int) -> Void)? = nil) throws -> CrossEncoderTrainingSummary {
        let total = options.totalSteps(examples: training.count)
        let schedule = try LearningRateSchedule(kind: options.schedule, peak: options.learningRate,
                                                warmupRatio: options.warmupRatio, totalSteps: total)
        var optimizer = AdamW(configuration: .init(weightDecay: options.weightDecay))
        var order = try DataOrder(count: training.count, seed: options.seed)
        var rng = TrainingRNG(seed: options.seed)
        var step = 0, losses: [Float] = [], resumedFrom: Int?
        if resume, let directory = checkpointDirectory, let url = TrainingCheckpoint.latest(in: directory) {
            let checkpoint = try TrainingCheckpoint(contentsOf: url)
            for (key, value) in runFacts where checkpoint.state.run[key] != value {
                throw TrainingError.invalidCheckpoint(path: url.path,
                    reason: "it was written by a run with \(key) = \(checkpoint.state.run[key] ?? "(unset)"), this run has \(value); resume with the same options and data")
            }
            guard checkpoint.state.dataOrder.count == training.count else {
                throw TrainingError.invalidCheckpoint(path: url.path, reason: "it covers \(checkpoint.state.dataOrder.count) examples, this run \(training.count)")
            }
            try model.parameters.load(checkpoint.parameters, file: url.path)
            optimizer = checkpoint.optimizer
            order = checkpoint.state.dataOrder
            rng = checkpoint.state.rng
            step = checkpoint.state.step
            losses = checkpoint.state.lossHistory
            resumedFrom = step
            progress?.note("resumed from \(url.lastPathComponent) at step \(step)/\(total)")
        }
        var reporter = progress
        let start = Date()
        var tokens = 0
        var gradients = [Float](repeating: 0, count: model.parameters.count)
        func save() throws {
            guard let directory = checkpointDirectory else { return }
            let state = TrainingCheckpoint.State(step: step, optimizer: optimizer.configuration, rng: rng, dataOrder: order,
                                                 parameterOrder: model.parameters.names, run: runFacts, lossHistory: losses)
            let url = directory.appendingPathComponent(TrainingCheckpoint.fileName(step: step))
            try TrainingCheckpoint(state: state, parameters: model.parameters.tensors, optimizer: optimizer).write(to: url)
            TrainingCheckpoint.prune(in: directory, keep: options.keepCheckpoints)
        }
        while step < total {
            if let stopAfter, step >= stopAfter { break }
            let indices = order.nextBatch(size: options.examplesPerStep).indices
            gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            var stepLoss = 0.0, stepTokens = 0
            for (micro, range) in GradientAccumulator.microBatchRanges(count: indices.count, size: options.batchSize).enumerated() {
                let batch = try model.batch(range.map { training[indices[$0]] })
                let share = Float(range.count) / Float(indices.count)
                // Dropout masks from (seed, step, micro-batch): a resumed run draws the same ones.
                var maskRNG = TrainingRNG(seed: options.seed, stream: 0x4D41_534B_0000_0000 | UInt64(step) << 16 | UInt64(micro))
                let (loss, _) = model.lossAndGradients(batch, lossScale: share, dropoutSeed: maskRNG.next(), gradients: &gradients)
                stepLoss += Double(loss) * Double(share)
                stepTokens += batch.tokenCount
            }
            GradientAccumulator.clipGlobalNorm(&gradients, maxNorm: options.maxGradientNorm)
            model.parameters.applyAdamW(&optimizer, gradients: gradients, learningRate: schedule.learningRate(at: step))
            step += 1
            tokens += stepTokens
            losses.append(Float(stepLoss))
            reporter?.step(step, loss: Float(stepLoss), tokens: stepTokens,
                           extra: "lr \(String(format: "%.2e", schedule.learningRate(at: step - 1)))")
            if options.checkpointEvery > 0, step % options.checkpointEvery == 0, step < total {
                try save()
                if let v = try validationLoss() {
                    reporter?.note("step \(step): validation loss \(String(format: "%.4f", v))")
                }
            }
            afterStep?(step)
        }
        if step == total { try save() }
        let validationLoss = try validationLoss()
        return CrossEncoderTrainingSummary(steps: step, totalSteps: total, resumedFrom: resumedFrom, examples: training.count,
                                           losses: losses, validationLoss: validationLoss,
                                           seconds: Date().timeIntervalSince(start), tokens: tokens)
    }
}
