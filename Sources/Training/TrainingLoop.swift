import Foundation
import Tensor

/// A gradient engine as the training loop drives it: named parameter
/// buffers, and the loss and gradients of one optimizer step's examples.
/// A recipe (`CrossEncoderRecipe`, `LoRARecipe`) wraps its engine in one.
public protocol TrainableModel {
    associatedtype Example: Sendable

    /// Parameter names in model order (the order of checkpoints and updates).
    var parameterNames: [String] { get }
    /// Every parameter by name, for checkpoints.
    func parameterTensors() -> [String: Tensor]
    /// Replaces the parameters with a checkpoint's; every name must be there with its size.
    mutating func loadParameters(_ tensors: [String: Tensor], file: String) throws
    /// Replaces the gradient with that of the mean loss over `examples` (all
    /// micro-batches of optimizer step `step`, 0-based, which seeds per-step
    /// randomness such as dropout); returns that loss and the tokens read.
    mutating func computeGradients(_ examples: [Example], step: Int) throws -> (loss: Float, tokens: Int)
    /// Hands the parameters and the gradient to the update (clipping, AdamW).
    mutating func withUpdateBuffers<R>(_ body: (UpdateBuffers) throws -> R) rethrows -> R
    /// Mean loss over held-out examples, forward only; nil when there is none.
    func validationLoss(_ examples: [Example]) throws -> Double?
}

/// What an optimizer step writes: the gradient memory as the engine holds it
/// (one flat buffer or one per tensor: clipping reads and scales it), and
/// every parameter with its gradient, in model order (AdamW walks them).
public struct UpdateBuffers {
    public struct Slice {
        public var name: String
        public var parameter: UnsafeMutablePointer<Float>
        public var gradient: UnsafeMutablePointer<Float>
        public var count: Int
        /// Whether AdamW's weight decay applies (not to biases and norms).
        public var decay: Bool

        public init(name: String, parameter: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int, decay: Bool) {
            self.name = name
            self.parameter = parameter
            self.gradient = gradient
            self.count = count
            self.decay = decay
        }
    }

    public var gradientStorage: [UnsafeMutableBufferPointer<Float>]
    public var slices: [Slice]

    public init(gradientStorage: [UnsafeMutableBufferPointer<Float>], slices: [Slice]) {
        self.gradientStorage = gradientStorage
        self.slices = slices
    }
}

/// The hyper-parameters every recipe shares (the `limrank train` flags);
/// each recipe has its own defaults (`CrossEncoderRecipe.defaults`,
/// `LoRARecipe.defaults`), the only place they are written.
public struct TrainingOptions: Sendable, Codable, Equatable {
    public var epochs: Int
    /// Caps the run at this many optimizer steps (overrides epochs, as transformers' max_steps).
    public var maxSteps: Int?
    /// Examples per micro-batch; an optimizer step sees batchSize × gradientAccumulation.
    public var batchSize: Int
    public var gradientAccumulation: Int
    public var learningRate: Float
    public var schedule: LearningRateSchedule.Kind
    public var warmupRatio: Double
    public var optimizer: AdamW.Configuration
    /// clip_grad_norm_'s bound; 0 turns clipping off (transformers' Trainer does the same).
    public var maxGradNorm: Float
    /// Seeds the data order, the validation split and per-step randomness.
    public var seed: UInt64
    /// Fraction of the examples held out for the validation loss.
    public var validationFraction: Double
    /// Checkpoint every this many optimizer steps (0: only at the end).
    public var checkpointEvery: Int
    /// Checkpoints kept on disk (the newest).
    public var keepCheckpoints: Int
    /// Validation loss every this many optimizer steps (0: only at the end).
    public var evaluateEvery: Int

    public init(epochs: Int = 1, maxSteps: Int? = nil, batchSize: Int, gradientAccumulation: Int, learningRate: Float,
                schedule: LearningRateSchedule.Kind, warmupRatio: Double, optimizer: AdamW.Configuration, maxGradNorm: Float = 1,
                seed: UInt64 = 12345, validationFraction: Double = 0.01, checkpointEvery: Int = 0, keepCheckpoints: Int = 2,
                evaluateEvery: Int = 0) {
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.batchSize = batchSize
        self.gradientAccumulation = gradientAccumulation
        self.learningRate = learningRate
        self.schedule = schedule
        self.warmupRatio = warmupRatio
        self.optimizer = optimizer
        self.maxGradNorm = maxGradNorm
        self.seed = seed
        self.validationFraction = validationFraction
        self.checkpointEvery = checkpointEvery
        self.keepCheckpoints = keepCheckpoints
        self.evaluateEvery = evaluateEvery
    }

    public var examplesPerStep: Int { batchSize * gradientAccumulation }

    /// Optimizer steps over `count` training examples.
    public func totalSteps(examples count: Int) -> Int {
        maxSteps ?? epochs * ((count + examplesPerStep - 1) / examplesPerStep)
    }

    public func validate() throws {
        func positive(_ value: Int, _ name: String) throws {
            guard value >= 1 else { throw TrainingError.invalidParameter(name: name, reason: "must be at least 1, got \(value)") }
        }
        try positive(epochs, "epochs")
        if let maxSteps { try positive(maxSteps, "max-steps") }
        try positive(batchSize, "batch-size")
        try positive(gradientAccumulation, "grad-accum")
        guard learningRate > 0, learningRate.isFinite else { throw TrainingError.invalidParameter(name: "lr", reason: "must be positive, got \(learningRate)") }
        guard warmupRatio >= 0, warmupRatio <= 1 else {
            throw TrainingError.invalidParameter(name: "warmup-ratio", reason: "must be in [0, 1], got \(warmupRatio)")
        }
        guard maxGradNorm >= 0, maxGradNorm.isFinite else {
            throw TrainingError.invalidParameter(name: "max-grad-norm", reason: "must be >= 0 (0: no clipping), got \(maxGradNorm)")
        }
        guard validationFraction >= 0, validationFraction < 1 else {
            throw TrainingError.invalidParameter(name: "validation-fraction", reason: "must be in [0, 1), got \(validationFraction)")
        }
        guard checkpointEvery >= 0 else { throw TrainingError.invalidParameter(name: "checkpoint-every", reason: "must be >= 0, got \(checkpointEvery)") }
        try positive(keepCheckpoints, "keep-checkpoints")
        guard evaluateEvery >= 0 else { throw TrainingError.invalidParameter(name: "eval-every", reason: "must be >= 0, got \(evaluateEvery)") }
        try optimizer.validate()
    }

    /// Options that change how often the run reports or saves, never its result:
    /// a resumed run may change them.
    static let bookkeeping: Set<String> = ["checkpointEvery", "keepCheckpoints", "evaluateEvery"]

    /// The facts a resumed run must share with the run that wrote the
    /// checkpoint: every option by its JSON key, its value as JSON (so a new
    /// option is covered without listing it), bookkeeping options left out.
    public var runFacts: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var facts: [String: String] = [:]
        for (key, value) in object where !Self.bookkeeping.contains(key) {
            let json = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
            facts[key] = json.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        }
        return facts
    }
}

/// What a run did.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var totalSteps: Int
    /// The step the run continued from, when it resumed.
    public var resumedFrom: Int?
    public var examples: Int
    public var validationExamples: Int
    /// Loss of every optimizer step, the resumed-from run's included.
    public var losses: [Float]
    public var validationLoss: Double?
    /// Seconds and tokens of this process's steps.
    public var seconds: Double
    public var tokens: Int

    public var finalLoss: Float? { losses.last }
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// The training loop every recipe runs: seeded data order, optimizer steps
/// (gradients of a step's examples, one `clip_grad_norm_`, AdamW under the
/// learning-rate schedule), a validation split and loss, atomic checkpoints
/// with pruning, resume, and progress on stderr. Deterministic under a seed:
/// a run resumed from a checkpoint ends with the same weights as one that
/// never stopped.
public struct TrainingLoop<Model: TrainableModel> {
    public var model: Model
    public let training: [Model.Example]
    public let validation: [Model.Example]
    public let options: TrainingOptions
    /// Progress-line label ("train", "train lora").
    public let label: String
    /// What a resumed run must share with the run it continues: the options'
    /// facts plus the recipe's (method, data and base-model fingerprints).
    public let runFacts: [String: String]
    /// When set (one list per training example), no optimizer step's batch
    /// holds two examples sharing a key (`DataOrder.noDuplicateBatches`,
    /// sentence-transformers' NoDuplicatesBatchSampler); a step then may be short.
    public let batchKeys: [[Int]]?

    public init(model: Model, training: [Model.Example], validation: [Model.Example] = [], options: TrainingOptions,
                label: String = "train", runFacts: [String: String] = [:], batchKeys: [[Int]]? = nil) throws {
        try options.validate()
        guard !training.isEmpty else { throw TrainingError.emptyDataSet(file: runFacts["data"] ?? "training data") }
        precondition(batchKeys.map { $0.count == training.count } ?? true, "one key list per training example")
        self.batchKeys = batchKeys
        self.model = model
        self.training = training
        self.validation = validation
        self.options = options
        self.label = label
        self.runFacts = options.runFacts.merging(runFacts) { option, _ in option }
    }

    public var totalSteps: Int { options.totalSteps(examples: training.count) }

    /// One optimizer step: the gradient of the mean loss over `examples`,
    /// `clip_grad_norm_` when `maxGradNorm` > 0, then AdamW on every
    /// parameter. Returns the step's loss and tokens.
    public static func optimizerStep(_ model: inout Model, examples: [Model.Example], step: Int, optimizer: inout AdamW,
                                     learningRate: Float, maxGradNorm: Float) throws -> (loss: Float, tokens: Int) {
        let result = try model.computeGradients(examples, step: step)
        model.withUpdateBuffers { buffers in
            if maxGradNorm > 0 { GradientClipping.clipGradNorm(buffers.gradientStorage, maxNorm: maxGradNorm) }
            optimizer.beginStep()
            for s in buffers.slices {
                optimizer.update(s.name, parameter: s.parameter, gradient: s.gradient, count: s.count,
                                 learningRate: learningRate, decay: s.decay)
            }
        }
        return result
    }

    /// Trains to the end. With `checkpointDirectory`, writes a checkpoint every
    /// `options.checkpointEvery` steps and at the end (keeping the newest
    /// `options.keepCheckpoints`); with `resume`, continues from the newest
    /// one there, refusing one written with other run facts. `afterStep` runs
    /// after each optimizer step with the step count. `crashAfter` (tests)
    /// returns after that many steps of this call without writing anything
    /// more, as a `kill -9` would leave the directory.
    public mutating func run(checkpointDirectory: URL?, resume: Bool = false, progressSink: (@Sendable (String) -> Void)? = nil,
                             afterStep: ((Int) -> Void)? = nil, crashAfter: Int? = nil) throws -> TrainingSummary {
        let total = totalSteps
        let schedule = try LearningRateSchedule(kind: options.schedule, peak: options.learningRate,
                                                warmupRatio: options.warmupRatio, totalSteps: total)
        var optimizer = AdamW(configuration: options.optimizer)
        var order = try DataOrder(count: training.count, seed: options.seed)
        var step = 0, losses: [Float] = [], resumedFrom: Int?
        var resumeNote: String?
        if resume, let directory = checkpointDirectory, let url = TrainingCheckpoint.latest(in: directory) {
            let checkpoint = try TrainingCheckpoint(contentsOf: url)
            try checkFacts(checkpoint.state.run, file: url.path)
            guard checkpoint.state.dataOrder.count == training.count else {
                throw TrainingError.invalidCheckpoint(path: url.path, reason: "it covers \(checkpoint.state.dataOrder.count) examples, this run \(training.count)")
            }
            try model.loadParameters(checkpoint.parameters, file: url.path)
            optimizer = checkpoint.optimizer
            order = checkpoint.state.dataOrder
            step = checkpoint.state.step
            losses = checkpoint.state.lossHistory
            resumedFrom = step
            resumeNote = "resumed from \(url.lastPathComponent) at step \(step)/\(total)"
        }
        var progress = ProgressReporter(total: total, startStep: step, label: label, sink: progressSink)
        if let resumeNote { progress.note(resumeNote) }
        let start = Date()
        var tokens = 0
        func save() throws {
            guard let directory = checkpointDirectory else { return }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let state = TrainingCheckpoint.State(step: step, optimizer: optimizer.configuration, dataOrder: order,
                                                 parameterOrder: model.parameterNames, run: runFacts, lossHistory: losses)
            try TrainingCheckpoint(state: state, parameters: model.parameterTensors(), optimizer: optimizer)
                .write(to: directory.appendingPathComponent(TrainingCheckpoint.fileName(step: step)))
            TrainingCheckpoint.prune(in: directory, keep: options.keepCheckpoints)
        }
        func summary(validationLoss: Double?) -> TrainingSummary {
            TrainingSummary(steps: step, totalSteps: total, resumedFrom: resumedFrom, examples: training.count,
                            validationExamples: validation.count, losses: losses, validationLoss: validationLoss,
                            seconds: Date().timeIntervalSince(start), tokens: tokens)
        }
        let firstStep = step
        var epochBatches: (epoch: Int, batches: [[Int]], starts: [Int: Int])?
        while step < total {
            let indices = try batchKeys.map { try order.nextBatch(size: options.examplesPerStep, keys: $0, cache: &epochBatches).indices }
                ?? order.nextBatch(size: options.examplesPerStep).indices
            let examples = indices.map { training[$0] }
            let learningRate = schedule.learningRate(at: step)
            let (loss, stepTokens) = try Self.optimizerStep(&model, examples: examples, step: step, optimizer: &optimizer,
                                                            learningRate: learningRate, maxGradNorm: options.maxGradNorm)
            step += 1
            tokens += stepTokens
            losses.append(loss)
            progress.step(step, loss: loss, tokens: stepTokens, extra: String(format: "lr %.2e", learningRate))
            if options.checkpointEvery > 0, step % options.checkpointEvery == 0, step < total { try save() }
            if options.evaluateEvery > 0, step % options.evaluateEvery == 0, step < total, let v = try model.validationLoss(validation) {
                progress.note(String(format: "step %d: validation loss %.4f", step, v))
            }
            afterStep?(step)
            if let crashAfter, step - firstStep >= crashAfter { return summary(validationLoss: nil) }
        }
        try save()
        let validationLoss = try model.validationLoss(validation)
        if let validationLoss {
            progress.note(String(format: "validation loss %.4f over %d held-out examples", validationLoss, validation.count))
        }
        return summary(validationLoss: validationLoss)
    }

    /// A resumed run must have exactly the facts of the run it continues
    /// (a fact added or dropped counts as changed).
    func checkFacts(_ saved: [String: String], file: String) throws {
        guard saved != runFacts else { return }
        let key = Set(saved.keys).union(runFacts.keys).sorted().first { saved[$0] != runFacts[$0] }!
        throw TrainingError.invalidCheckpoint(path: file,
            reason: "it was written by a run with \(key) = \(saved[key] ?? "(unset)"), this run has \(runFacts[key] ?? "(unset)"); resume with the same options and data")
    }
}
