import Foundation
import Models
import Tensor

/// LoRA supervised fine-tuning of a Llama-family decoder on the training
/// loop (LLaMA-Factory's recipe as LimRank ran it: AdamW without weight
/// decay, cosine schedule with warmup, gradient accumulation, the loss on
/// the answer tokens only, averaged over the target tokens of each optimizer
/// step), writing a PEFT adapter.
public struct LoRARecipe: Sendable {
    /// LimRank's `train_configs/limrank.yaml` values.
    public static let defaults = TrainingOptions(batchSize: 1, gradientAccumulation: 8, learningRate: 3e-5, schedule: .cosine,
                                                 warmupRatio: 0.03, optimizer: AdamW.Configuration(weightDecay: 0), checkpointEvery: 50)
    /// The base model, and LimRank's cutoff (`cutoff_len`) for prompt + answer.
    public static let defaultModel = "smollm2"
    public static let defaultMaxSequence = 2500

    public var engine: LlamaLoRATrainer
    public var lora: LoRAConfiguration
    public var options: TrainingOptions
    /// Training and held-out sequences (those with an answer token).
    public var train: [TrainingSequence]
    public var validation: [TrainingSequence]
    /// `base_model_name_or_path` of the adapter written.
    public var baseModel: String
    /// What else a resumed run must share (data file, example count, model).
    public var runFacts: [String: String]

    /// Splits `sequences` into training and validation (seeded), checks options.
    public init(engine: LlamaLoRATrainer, sequences: [TrainingSequence], lora: LoRAConfiguration, options: TrainingOptions,
                baseModel: String, dataFile: String, runFacts: [String: String] = [:]) throws {
        try options.validate()
        try Self.validate(lora)
        let usable = sequences.filter { $0.targetCount > 0 }
        guard !usable.isEmpty else { throw TrainingError.emptyDataSet(file: dataFile) }
        (train, validation) = try DataOrder.validationSplit(usable, fraction: options.validationFraction, seed: options.seed)
        self.engine = engine
        self.lora = lora
        self.options = options
        self.baseModel = baseModel
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let loraFact = (try? encoder.encode(lora)).map { String(decoding: $0, as: UTF8.self) } ?? "\(lora)"
        self.runFacts = runFacts.merging(["method": "lora", "lora": loraFact]) { a, _ in a }
    }

    static func validate(_ lora: LoRAConfiguration) throws {
        guard lora.rank > 0 else { throw TrainingError.invalidParameter(name: "rank", reason: "must be positive, got \(lora.rank)") }
        guard lora.alpha > 0 else { throw TrainingError.invalidParameter(name: "alpha", reason: "must be positive, got \(lora.alpha)") }
        guard lora.dropout == 0 else {
            throw TrainingError.invalidParameter(name: "dropout", reason: "only 0 is implemented (LimRank's setting), got \(lora.dropout)")
        }
        guard !lora.targets.isEmpty else { throw TrainingError.invalidParameter(name: "target-modules", reason: "empty") }
    }

    public var examplesPerStep: Int { options.examplesPerStep }
    public var totalSteps: Int { options.totalSteps(examples: train.count) }

    /// The adapter's initial weights (PEFT's init, seeded by the run seed) as the loop's model.
    public func makeModel() throws -> Model {
        let c = engine.configuration
        let initial = try LoRAAdapter(configuration: lora, model: c, seed: options.seed, baseModel: baseModel)
        return Model(engine: engine, parameters: LoRAParameters(initial, layers: c.numHiddenLayers))
    }

    /// Trains, checkpointing into `output`/checkpoints (and resuming from its
    /// newest checkpoint with `resume`), then writes the PEFT adapter to
    /// `output`. `crashAfter`: see `TrainingLoop.run`; nothing is written after it.
    public func run(output: URL, resume: Bool, progressSink: (@Sendable (String) -> Void)? = nil,
                    afterStep: ((Int) -> Void)? = nil, crashAfter: Int? = nil) throws -> TrainingSummary {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var loop = try TrainingLoop(model: try makeModel(), training: train, validation: validation, options: options,
                                    label: "train lora", runFacts: runFacts)
        let summary = try loop.run(checkpointDirectory: output.appendingPathComponent("checkpoints"), resume: resume,
                                   progressSink: progressSink, afterStep: afterStep, crashAfter: crashAfter)
        if summary.steps == summary.totalSteps { try loop.model.parameters.adapter.save(to: output) }
        return summary
    }

    /// `LlamaLoRATrainer` (the gradient engine) with the LoRA matrices it trains.
    public struct Model: TrainableModel {
        public let engine: LlamaLoRATrainer
        public let parameters: LoRAParameters
        let gradients: LoRAParameters

        public init(engine: LlamaLoRATrainer, parameters: LoRAParameters) {
            self.engine = engine
            self.parameters = parameters
            gradients = parameters.makeGradients()
        }

        public var parameterNames: [String] { parameters.namedBuffers.map(\.name) }

        public func parameterTensors() -> [String: Tensor] {
            var tensors: [String: Tensor] = [:]
            for (name, b) in parameters.namedBuffers { tensors[name] = Tensor(shape: [b.count], data: b.array) }
            return tensors
        }

        public mutating func loadParameters(_ tensors: [String: Tensor], file: String) throws {
            for (name, buffer) in parameters.namedBuffers {
                guard let saved = tensors[name], saved.count == buffer.count else {
                    throw TrainingError.invalidCheckpoint(path: file, reason: "LoRA matrix \(name) is missing or has another size")
                }
                saved.data.withUnsafeBufferPointer { buffer.p.update(from: $0.baseAddress!, count: buffer.count) }
            }
        }

        /// The gradient of the mean target-token loss over the whole step
        /// (each sequence's sum scaled by 1 / the step's target count, as
        /// transformers' Trainer does with num_items_in_batch).
        public mutating func computeGradients(_ examples: [TrainingSequence], step: Int) throws -> (loss: Float, tokens: Int) {
            let count = examples.reduce(0) { $0 + $1.targetCount }
            gradients.zero()
            var sum = 0.0
            for s in examples {
                sum += try engine.accumulateGradients(s, lora: parameters, lossScale: 1 / Float(max(1, count)), into: gradients).sum
            }
            return (Float(sum / Double(max(1, count))), examples.reduce(0) { $0 + $1.tokens.count })
        }

        public mutating func withUpdateBuffers<R>(_ body: (UpdateBuffers) throws -> R) rethrows -> R {
            let g = gradients.namedBuffers
            return try body(UpdateBuffers(
                gradientStorage: g.map { UnsafeMutableBufferPointer(start: $0.buffer.p, count: $0.buffer.count) },
                slices: zip(parameters.namedBuffers, g).map { p, g in
                    UpdateBuffers.Slice(name: p.name, parameter: p.buffer.p, gradient: g.buffer.p, count: p.buffer.count, decay: true)
                }))
        }

        /// Mean target-token loss over the sequences.
        public func validationLoss(_ examples: [TrainingSequence]) throws -> Double? {
            var sum = 0.0, count = 0
            for s in examples {
                let r = try engine.loss(s, lora: parameters)
                sum += r.sum
                count += r.count
            }
            return count > 0 ? sum / Double(count) : nil
        }
    }
}
