import ArgumentParser
import Foundation
import Training

/// The flags every `limrank train` method reads. All are optional: an unset
/// training option takes the recipe's default (`CrossEncoderRecipe.defaults`,
/// `LoRARecipe.defaults`), written only there, and `--method` (the older
/// spelling of the subcommand) reads the same flags.
struct TrainFlags: ParsableArguments {
    @Option(name: .customLong("data"), help: "Training data: a .jsonl file or a BEIR directory with qrels/train.tsv (required).")
    var dataOption: String?

    @Option(help: "Base model: short name, cache entry or directory (cross-encoder: a BERT safetensors directory, default \(CrossEncoderRecipe.defaultModel); lora: a Llama/Qwen2/Qwen3 GGUF or safetensors directory, default \(LoRARecipe.defaultModel)).")
    var model: String?

    @Option(name: .customLong("out"), help: "Output directory (the trained model, checkpoints/, training_summary.json) (required).")
    var outOption: String?

    static let ce = CrossEncoderRecipe.defaults, lo = LoRARecipe.defaults

    @Option(help: "Passes over the training data (default \(TrainFlags.ce.epochs)).")
    var epochs: Int?

    @Option(help: "Stop after this many optimizer steps (overrides --epochs).")
    var maxSteps: Int?

    @Option(help: "Examples per micro-batch (default \(TrainFlags.ce.batchSize); lora \(TrainFlags.lo.batchSize)).")
    var batchSize: Int?

    @Option(help: "Micro-batches per optimizer step (default \(TrainFlags.ce.gradientAccumulation); lora \(TrainFlags.lo.gradientAccumulation)).")
    var gradAccum: Int?

    @Option(help: "Peak learning rate (default \(TrainFlags.ce.learningRate); lora \(TrainFlags.lo.learningRate), LimRank's).")
    var lr: Float?

    @Option(help: "Learning-rate schedule after warmup: linear, cosine or constant (default \(TrainFlags.ce.schedule.rawValue); lora \(TrainFlags.lo.schedule.rawValue)).")
    var scheduler: String?

    @Option(help: "Fraction of the steps spent warming up linearly from 0 (default \(TrainFlags.ce.warmupRatio); lora \(TrainFlags.lo.warmupRatio)).")
    var warmupRatio: Double?

    @Option(help: "AdamW decoupled weight decay, not on biases and LayerNorm weights (default \(TrainFlags.ce.optimizer.weightDecay); lora \(TrainFlags.lo.optimizer.weightDecay), the Trainer's).")
    var weightDecay: Float?

    @Option(help: "Gradient clipping: largest global L2 norm, 0 for none (default \(TrainFlags.ce.maxGradNorm)).")
    var maxGradNorm: Float?

    @Option(help: "Longest tokenized pair; longer passages are truncated, never the query or (lora) the answer (default \(CrossEncoderRecipe.defaultMaxSequence); lora \(LoRARecipe.defaultMaxSequence), LimRank's cutoff).")
    var maxSeq: Int?

    @Option(help: "Seed of shuffling, the validation split and the new head (default \(TrainFlags.ce.seed)).")
    var seed: UInt64?

    @Option(help: "Write a checkpoint every N optimizer steps, 0: only at the end (default \(TrainFlags.ce.checkpointEvery); lora \(TrainFlags.lo.checkpointEvery)).")
    var checkpointEvery: Int?

    @Option(help: "Checkpoints kept in OUT/checkpoints, the newest (default \(TrainFlags.ce.keepCheckpoints)).")
    var keepCheckpoints: Int?

    @Option(help: "Validation loss every N optimizer steps, 0: at the end only (default \(TrainFlags.ce.evaluateEvery)).")
    var evalEvery: Int?

    @Flag(help: "Continue from the newest checkpoint in OUT/checkpoints.")
    var resume = false

    @Option(help: "Dropout probability (hidden, attention and classifier) while training; default: the base model's config.json (0.1 for MiniLM). 0 turns it off. lora: the LoRA dropout, default 0 (only 0 is implemented).")
    var dropout: Float?

    @Option(help: ArgumentHelp(
        "The loss. cross-encoder: bce (0/1 labels, the default), mse (the logit against each passage's teacher \"score\") or margin-mse (s(q,p) - s(q,n) against the teacher's margin, on every positive x negative of a query). bi-encoder: mnrl (MultipleNegativesRankingLoss, cos_sim, the default) or margin-mse (MarginMSELoss, dot product, teacher scores). The teacher scores come from `limrank teacher`. lora: not taken.",
        valueName: "loss"))
    var loss: String?

    /// `--loss` read as the losses of one method, naming the ones it has.
    func loss<Loss: RawRepresentable & CaseIterable>(_: Loss.Type, default fallback: Loss, method: String) throws -> Loss
    where Loss.RawValue == String {
        guard let loss else { return fallback }
        guard let value = Loss(rawValue: loss) else {
            throw ValidationError("--loss \(loss) is not a \(method) loss; use one of: \(Loss.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    @Option(help: "Fraction of the examples held out for a validation loss, ⌈count × fraction⌉ of them (default \(TrainFlags.ce.validationFraction)).")
    var validationFraction: Double?

    /// Sleeps after each step: lets tests kill a run mid-way on any machine.
    @Option(help: .hidden)
    var stepDelayMs = 0

    func validate() throws {
        if let scheduler, LearningRateSchedule.Kind(rawValue: scheduler) == nil {
            throw ValidationError("--scheduler must be linear, cosine or constant, got \(scheduler)")
        }
        if let maxSeq, maxSeq <= 3 { throw ValidationError("--max-seq must be more than 3") }
    }

    /// `--data` and `--out`, which every method needs.
    func requiredPaths() throws -> (data: String, out: URL) {
        guard let data = dataOption else { throw ValidationError("Missing expected argument '--data <data>'") }
        guard let out = outOption else { throw ValidationError("Missing expected argument '--out <out>'") }
        return (data, URL(fileURLWithPath: out))
    }

    /// OUT/checkpoints; refused when it holds an earlier run's checkpoints and --resume is not given.
    func checkpointDirectory(_ out: URL) throws -> URL {
        let checkpoints = out.appendingPathComponent("checkpoints")
        if !resume, TrainingCheckpoint.latest(in: checkpoints) != nil {
            throw ValidationError("\(checkpoints.path) holds checkpoints of an earlier run: pass --resume to continue it, or choose another --out")
        }
        return checkpoints
    }

    /// The recipe's defaults with every flag given on the command line applied.
    func trainingOptions(_ defaults: TrainingOptions) throws -> TrainingOptions {
        var o = defaults
        if let epochs { o.epochs = epochs }
        if let maxSteps { o.maxSteps = maxSteps }
        if let batchSize { o.batchSize = batchSize }
        if let gradAccum { o.gradientAccumulation = gradAccum }
        if let lr { o.learningRate = lr }
        if let scheduler, let kind = LearningRateSchedule.Kind(rawValue: scheduler) { o.schedule = kind }
        if let warmupRatio { o.warmupRatio = warmupRatio }
        if let weightDecay { o.optimizer.weightDecay = weightDecay }
        if let maxGradNorm { o.maxGradNorm = maxGradNorm }
        if let seed { o.seed = seed }
        if let validationFraction { o.validationFraction = validationFraction }
        if let checkpointEvery { o.checkpointEvery = checkpointEvery }
        if let keepCheckpoints { o.keepCheckpoints = keepCheckpoints }
        if let evalEvery { o.evaluateEvery = evalEvery }
        try validationErrors { try o.validate() }
        return o
    }
}

