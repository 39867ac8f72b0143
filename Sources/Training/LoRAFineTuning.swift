import Foundation
import Models
import Tensor

/// `limrank train --method lora`: supervised fine-tuning of a Llama-family
/// decoder with LoRA adapters (LLaMA-Factory's recipe as LimRank ran it:
/// AdamW, cosine schedule with warmup, gradient accumulation, loss on the
/// answer tokens only, mean over the target tokens of each optimizer step).
public struct LoRAFineTuning: Sendable {
    public struct Options: Sendable, Codable, Equatable {
        public var lora: LoRAConfiguration
        public var learningRate: Float
        public var schedule: LearningRateSchedule.Kind
        public var warmupRatio: Double
        public var epochs: Int
        /// Stops after this many optimizer steps (the schedule spans them).
        public var maxSteps: Int?
        /// Sequences per micro-batch and micro-batches per optimizer step.
        public var batchSize: Int
        public var gradientAccumulation: Int
        public var optimizer: AdamW.Configuration
        /// clip_grad_norm_ bound (transformers' default 1.0); 0 disables it.
        public var maxGradNorm: Float
        public var seed: UInt64
        /// Fraction of the examples held out for the validation loss.
        public var validationFraction: Double
        /// Checkpoint every this many optimizer steps (0: only at the end).
        public var checkpointEvery: Int
        /// Validation loss every this many steps (0: only at the end).
        public var evaluateEvery: Int

        public init(lora: LoRAConfiguration = LoRAConfiguration(), learningRate: Float = 3e-5,
                    schedule: LearningRateSchedule.Kind = .cosine, warmupRatio: Double = 0.03, epochs: Int = 1,
                    maxSteps: Int? = nil, batchSize: Int = 1, gradientAccumulation: Int = 8,
                    optimizer: AdamW.Configuration = AdamW.Configuration(weightDecay: 0), maxGradNorm: Float = 1,
                    seed: UInt64 = 12345, validationFraction: Double = 0.01, checkpointEvery: Int = 50,
                    evaluateEvery: Int = 0) {
            self.lora = lora
            self.learningRate = learningRate
            self.schedule = schedule
            self.warmupRatio = warmupRatio
            self.epochs = epochs
            self.maxSteps = maxSteps
            self.batchSize = batchSize
            self.gradientAccumulation = gradientAccumulation
            self.optimizer = optimizer
            self.maxGradNorm = maxGradNorm
            self.seed = seed
            self.validationFraction = validationFraction
            self.checkpointEvery = checkpointEvery
            self.evaluateEvery = evaluateEvery
        }

        public func validate() throws {
            guard lora.rank > 0 else { throw TrainingError.invalidParameter(name: "rank", reason: "must be positive, got \(lora.rank)") }
            guard lora.alpha > 0 else { throw TrainingError.invalidParameter(name: "alpha", reason: "must be positive, got \(lora.alpha)") }
            guard lora.dropout == 0 else {
                throw TrainingError.invalidParameter(name: "dropout", reason: "only 0 is implemented (LimRank's setting), got \(lora.dropout)")
            }
            guard !lora.targets.isEmpty else { throw TrainingError.invalidParameter(name: "target-modules", reason: "empty") }
            guard epochs > 0 else { throw TrainingError.invalidParameter(name: "epochs", reason: "must be positive, got \(epochs)") }
            guard batchSize > 0 else { throw TrainingError.invalidParameter(name: "batch-size", reason: "must be positive, got \(batchSize)") }
            guard gradientAccumulation > 0 else {
                throw TrainingError.invalidParameter(name: "gradient-accumulation", reason: "must be positive, got \(gradientAccumulation)")
            }
            if let maxSteps, maxSteps <= 0 { throw TrainingError.invalidParameter(name: "max-steps", reason: "must be positive, got \(maxSteps)") }
            guard validationFraction >= 0, validationFraction < 1 else {
                throw TrainingError.invalidParameter(name: "validation", reason: "must be in [0, 1), got \(validationFraction)")
            }
            guard maxGradNorm >= 0 else { throw TrainingError.invalidParameter(name: "max-grad-norm", reason: "must be >= 0") }
            try optimizer.validate()
        }

        /// The facts a resumed run must share with the run it continues.
        var runFacts: [String: String] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return ["method": "lora", "options": data]
        }
    }

    public var trainer: LlamaLoRATrainer
    public var options: Options
    /// Training and held-out sequences.
    public var train: [TrainingSequence]
    public var validation: [TrainingSequence]
    /// `base_model_name_or_path` of the adapter written.
    public var baseModel: String
    /// What else a resumed run must share (data file, example count, model).
    public var runFacts: [String: String]

    /// Splits `sequences` into training and validation (seeded), checks options.
    public init(trainer: LlamaLoRATrainer, sequences: [TrainingSequence], options: Options, baseModel: String,
                dataFile: String, runFacts: [String: String] = [:]) throws {
        try options.validate()
        let usable = sequences.filter { $0.targetCount > 0 }
        guard !usable.isEmpty else { throw TrainingError.emptyDataSet(file: dataFile) }
        var rng = TrainingRNG(seed: options.seed, stream: 0x5641_4C49)  // "VALI"
        let order = rng.permutation(usable.count)
        let held = usable.count > 1 ? Int((Double(usable.count) * options.validationFraction).rounded(.up)) : 0
        let heldOut = Set(order.prefix(min(held, usable.count - 1)))
        self.trainer = trainer
        self.options = options
        train = usable.indices.filter { !heldOut.contains($0) }.map { usable[$0] }
        validation = heldOut.sorted().map { usable[$0] }
        self.baseModel = baseModel
        self.runFacts = options.runFacts.merging(runFacts) { a, _ in a }
    }

    public var examplesPerStep: Int { options.batchSize * options.gradientAccumulation }

    public var totalSteps: Int {
        options.maxSteps ?? options.epochs * ((train.count + examplesPerStep - 1) / examplesPerStep)
    }

    /// What `run` reports.
    public struct Summary: Sendable {
        public var steps: Int
        public var finalLoss: Float
        public var validationLoss: Double?
        public var tokensPerSecond: Double
        public var resumedFrom: Int?
    }

    /// Mean target-token loss over the validation sequences.
    public func validationLoss(_ lora: LoRAParameters) throws -> Double? {
        guard !validation.isEmpty else { return nil }
        var sum = 0.0, count = 0
        for s in validation {
            let r = try trainer.loss(s, lora: lora)
            sum += r.sum
            count += r.count
        }
        return count > 0 ? sum / Double(count) : nil
    }

    /// One optimizer step over `batch` (all micro-batches of the step): the
    /// gradient of the mean target-token loss over the whole batch (each
    /// sequence's sum scaled by 1 / the batch's target count, as transformers'
    /// Trainer does with num_items_in_batch), global-norm clipping when
    /// `maxGradNorm` > 0 (clip_grad_norm_), then AdamW on every A and B.
    /// Returns the batch's mean loss.
    public static func optimizerStep(trainer: LlamaLoRATrainer, batch: [TrainingSequence], lora: LoRAParameters,
                                     gradients: LoRAParameters, optimizer: inout AdamW, learningRate: Float,
                                     maxGradNorm: Float) throws -> Float {
        let count = batch.reduce(0) { $0 + $1.targetCount }
        gradients.zero()
        var sum = 0.0
        for s in batch {
            sum += try trainer.accumulateGradients(s, lora: lora, lossScale: 1 / Float(max(1, count)), into: gradients).sum
        }
        if maxGradNorm > 0 {
            let norm = Float(gradients.squaredNorm.squareRoot())
            let coefficient = maxGradNorm / (norm + 1e-6)
            if coefficient < 1 { gradients.scale(by: coefficient) }
        }
        optimizer.beginStep()
        for ((name, p), (_, g)) in zip(lora.namedBuffers, gradients.namedBuffers) {
            optimizer.update(name, parameter: p.p, gradient: g.p, count: p.count, learningRate: learningRate)
        }
        return Float(sum / Double(max(1, count)))
    }

    /// Trains, checkpointing into `output` (and resuming from its latest
    /// checkpoint with `resume`), and writes the PEFT adapter there.
    /// `crashAfter` (tests) returns after that many steps of this run without
    /// writing anything more, as a `kill -9` would leave the directory.
    public func run(output: URL, resume: Bool, progressSink: (@Sendable (String) -> Void)? = nil,
                    afterStep: ((Int) -> Void)? = nil, crashAfter: Int? = nil) throws -> Summary {
        let c = trainer.configuration
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let checkpoints = output.appendingPathComponent("checkpoints")
        let total = totalSteps
        let schedule = try LearningRateSchedule(kind: options.schedule, peak: options.learningRate,
                                                warmupRatio: options.warmupRatio, totalSteps: total)
        var order = try DataOrder(count: train.count, seed: options.seed)
        var optimizer = AdamW(configuration: options.optimizer)
        let initial = try LoRAAdapter(configuration: options.lora, model: c, seed: options.seed, baseModel: baseModel)
        let lora = LoRAParameters(initial, layers: c.numHiddenLayers)
        var step = 0
        var history: [Float] = []
        var resumedFrom: Int?
        let rng = TrainingRNG(seed: options.seed)
        if resume, let latest = TrainingCheckpoint.latest(in: checkpoints) {
            let checkpoint = try TrainingCheckpoint(contentsOf: latest)
            guard checkpoint.state.run == runFacts else {
                throw TrainingError.invalidCheckpoint(path: latest.path, reason: "it was written by a run with other options or method; resume with the same flags")
            }
            for (name, buffer) in lora.namedBuffers {
                guard let saved = checkpoint.parameters[name], saved.count == buffer.count else {
                    throw TrainingError.invalidCheckpoint(path: latest.path, reason: "LoRA matrix \(name) is missing or has another size")
                }
                saved.data.withUnsafeBufferPointer { buffer.p.update(from: $0.baseAddress!, count: buffer.count) }
            }
            optimizer = checkpoint.optimizer
            order = checkpoint.state.dataOrder
            step = checkpoint.state.step
            history = checkpoint.state.lossHistory
            resumedFrom = step
        }
        var progress = ProgressReporter(total: total, startStep: step, label: "train lora", sink: progressSink)
        if let resumedFrom { progress.note("resumed from \(checkpoints.path) at step \(resumedFrom)/\(total)") }
        let gradients = lora.makeGradients()
        let start = Date()
        var tokensSeen = 0
        var lastLoss: Float = history.last ?? .nan
        func saveCheckpoint() throws {
            var parameters: [String: Tensor] = [:]
            for (name, b) in lora.namedBuffers { parameters[name] = Tensor(shape: [b.count], data: b.array) }
            let state = TrainingCheckpoint.State(step: step, optimizer: options.optimizer, rng: rng, dataOrder: order,
                                                 parameterOrder: lora.namedBuffers.map(\.name), run: runFacts,
                                                 lossHistory: history)
            try TrainingCheckpoint(state: state, parameters: parameters, optimizer: optimizer)
                .write(to: checkpoints.appendingPathComponent(TrainingCheckpoint.fileName(step: step)))
            TrainingCheckpoint.prune(in: checkpoints, keep: 2)
        }
        while step < total {
            let batch = order.nextBatch(size: examplesPerStep).indices.map { train[$0] }
            let lr = schedule.learningRate(at: step)
            let loss = try Self.optimizerStep(trainer: trainer, batch: batch, lora: lora, gradients: gradients,
                                              optimizer: &optimizer, learningRate: lr, maxGradNorm: options.maxGradNorm)
            tokensSeen += batch.reduce(0) { $0 + $1.tokens.count }
            step += 1
            lastLoss = loss
            history.append(lastLoss)
            progress.step(step, loss: lastLoss, tokens: batch.reduce(0) { $0 + $1.tokens.count }, extra: String(format: "lr %.2e", lr))
            if options.evaluateEvery > 0, step % options.evaluateEvery == 0, step < total, let v = try validationLoss(lora) {
                progress.note(String(format: "step %d validation loss %.4f", step, v))
            }
            if options.checkpointEvery > 0, step % options.checkpointEvery == 0, step < total {
                try saveCheckpoint()
            }
            afterStep?(step)
            if let crashAfter, step - (resumedFrom ?? 0) >= crashAfter {
                return Summary(steps: step, finalLoss: lastLoss, validationLoss: nil, tokensPerSecond: 0, resumedFrom: resumedFrom)
            }
        }
        let validationLoss = try validationLoss(lora)
        if let validationLoss { progress.note(String(format: "validation loss %.4f over %d held-out examples", validationLoss, validation.count)) }
        try lora.adapter.save(to: output)
        try saveCheckpoint()
        let elapsed = Date().timeIntervalSince(start)
        return Summary(steps: step, finalLoss: lastLoss, validationLoss: validationLoss,
                       tokensPerSecond: elapsed > 0 ? Double(tokensSeen) / elapsed : 0, resumedFrom: resumedFrom)
    }
}
