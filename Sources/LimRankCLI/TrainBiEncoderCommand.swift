import ArgumentParser
import Foundation
import Models
import Tokenizers
import Training

/// `limrank train bi-encoder`: fine-tunes a sentence-transformers BERT
/// encoder with MultipleNegativesRankingLoss or GPL's MarginMSE
/// (`BiEncoderRecipe`), written as a sentence-transformers directory.
struct TrainBiEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bi-encoder",
        abstract: "Train a sentence-transformers bi-encoder (MNRL or MarginMSE; writes a sentence-transformers directory).",
        discussion: """
        Data: examples.jsonl ({"query", "positives": [{"text", "documentID"?, "score"?}], "negatives": [...]}) \
        or pair lines ({"query", "passage", "label", "score"?}, grouped by query). mnrl: one (query, positive, \
        hard negative) row per positive, in-batch negatives, no two rows of one query or document in a batch \
        (documentID, else the text); margin-mse: every (positive, negative) of a query with the margin of their \
        teacher "score"s (`limrank teacher` writes them). Defaults (flags unset): batch \(BiEncoderRecipe.defaults.batchSize), \
        lr \(BiEncoderRecipe.defaults.learningRate), \(BiEncoderRecipe.defaults.schedule.rawValue) after \
        \(BiEncoderRecipe.defaults.warmupRatio) warmup, weight decay \(BiEncoderRecipe.defaults.optimizer.weightDecay), \
        \(BiEncoderRecipe.defaults.epochs) epoch, model \(BiEncoderRecipe.defaultModel), --max-seq the model's max_seq_length.
        """)

    @OptionGroup var flags: TrainFlags

    @Option(help: "MultipleNegativesRankingLoss's scale (1 / temperature) (default \(BiEncoderRecipe.defaultScale)).")
    var scale: Float = BiEncoderRecipe.defaultScale

    @Option(name: .customLong("margin-scale"), help: ArgumentHelp(
        "margin-mse: multiply the teacher's margins by this factor, or `auto`: the least-squares factor onto the start model's own margins on the training rows (a teacher on another scale than the student's dot products otherwise pulls every margin wider or narrower). Default 1 (GPL's).",
        valueName: "x|auto"))
    var marginScale: String?

    /// `train`'s LoRA flags would land there, unread.
    @ParentCommand var train: TrainCommand

    func validate() throws {
        if train.lora.isSet { throw ValidationError("--rank, --alpha, --target-modules and --recompute are for lora") }
        guard scale > 0, scale.isFinite else { throw ValidationError("--scale must be positive, got \(scale)") }
        _ = try marginScaleSetting()
    }

    enum MarginScale { case auto, factor(Double) }

    /// --margin-scale read (nil when not given), refused by name when it is
    /// neither a positive number nor `auto`.
    func marginScaleSetting() throws -> MarginScale? {
        guard let marginScale else { return nil }
        if marginScale == "auto" { return .auto }
        guard let x = Double(marginScale), x > 0, x.isFinite else {
            throw ValidationError("--margin-scale must be a positive number or auto, got '\(marginScale)'")
        }
        return .factor(x)
    }

    func run() throws {
        let options = try flags.trainingOptions(BiEncoderRecipe.defaults)
        let (data, outURL) = try flags.requiredPaths()
        let checkpoints = try flags.checkpointDirectory(outURL)
        let lossKind = try flags.loss(BiEncoderLoss.self, default: .mnrl, method: "bi-encoder")
        try validationErrors {
            let base = try ModelStore().resolve(flags.model ?? BiEncoderRecipe.defaultModel)
            let url = URL(fileURLWithPath: data)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ValidationError("--data \(data) must be a JSON Lines file (examples.jsonl or pair lines)")
            }
            let (rows, without) = try BiEncoderData.read(url, loss: lossKind)
            Log.write("read \(rows.count) rows from \(data)" + (without > 0 ? " (\(without) queries gave none: no positive, or for margin-mse no negative)" : ""))
            let tokenizer = try Tokenizer(directory: base)
            let bert = try BERTModel(directory: base)
            let sentence = try SentenceTransformerDirectory(directory: base)
            let maxSequence = min(flags.maxSeq ?? sentence.maxSequenceLength ?? bert.configuration.maxPositionEmbeddings,
                                  bert.configuration.maxPositionEmbeddings)
            var examples = try BiEncoderData.encode(rows, tokenizer: tokenizer, maxSequence: maxSequence)
            var trainable = try BiEncoderTraining(model: bert, sentence: sentence, loss: lossKind, scale: scale)
            if let dropout = flags.dropout {
                guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
                trainable.dropout = BERTDropout(hidden: dropout, attention: dropout)
            } else {
                trainable.dropout = try BERTDropout.load(from: base.appendingPathComponent("config.json"))
            }
            let factor = try marginFactor(trainable, examples: examples, options: options, loss: lossKind)
            if factor != 1 {
                for i in examples.indices { examples[i].margin = examples[i].margin.map { Float(Double($0) * factor) } }
            }
            var facts = ["data": url.standardizedFileURL.path, "examples": "\(examples.count)",
                         "model": base.standardizedFileURL.path, "max_seq": "\(maxSequence)",
                         "dropout": "\(trainable.dropout.hidden)/\(trainable.dropout.attention)"]
            if lossKind == .marginMSE { facts["margin_scale"] = "\(factor)" }
            var loop = try BiEncoderRecipe.loop(model: trainable, examples: examples, options: options, runFacts: facts)
            Log.write("training \(loop.training.count) rows (\(loop.validation.count) held out) with \(lossKind.rawValue), \(loop.totalSteps) steps of \(options.examplesPerStep), no two rows of one query or document in a batch")
            let summary = try loop.run(checkpointDirectory: checkpoints, resume: flags.resume,
                                       afterStep: flags.stepDelayMs > 0 ? { _ in usleep(UInt32(flags.stepDelayMs) * 1000) } : nil)
            try BiEncoderExport.write(loop.model.engine, base: base, to: outURL, maxSequenceLength: maxSequence)
            struct Summary: Encodable {
                var method: String, loss: String, steps: Int, examples: Int, validationExamples: Int, seconds: Double, tokens: Int
                var losses: [Float], validationLoss: Double?, resumedFrom: Int?, marginScale: Double?
            }
            let s = Summary(method: "bi-encoder", loss: lossKind.rawValue, steps: summary.steps, examples: summary.examples,
                            validationExamples: summary.validationExamples, seconds: summary.seconds, tokens: summary.tokens,
                            losses: summary.losses, validationLoss: summary.validationLoss, resumedFrom: summary.resumedFrom,
                            marginScale: lossKind == .marginMSE ? factor : nil)
            try LossCurvePlot.writeRunFiles(summary: s, of: summary, method: "bi-encoder", into: outURL)
            let v = summary.validationLoss.map { String(format: ", validation loss %.4f", $0) } ?? ""
            Log.write("done: \(summary.steps) steps in \(String(format: "%.1f", summary.seconds))s\(v); sentence-transformers model in \(outURL.path)")
        }
    }

    /// The factor the teacher's margins are multiplied by: --margin-scale's
    /// number, or for `auto` the least-squares fit onto the start model's
    /// margins over the training rows (the validation split is left out, and
    /// a resumed run fits the same base model, so it gets the same factor).
    func marginFactor(_ model: BiEncoderTraining, examples: [BiEncoderExample], options: TrainingOptions,
                      loss: BiEncoderLoss) throws -> Double {
        guard let setting = try marginScaleSetting() else { return 1 }
        guard loss == .marginMSE else { throw ValidationError("--margin-scale is for --loss margin-mse") }
        if case .factor(let x) = setting { return x }
        let training = try DataOrder.validationSplit(examples, fraction: options.validationFraction, seed: options.seed).training
        Log.write("margin-scale auto: the start model's margins on \(training.count) training rows")
        var last = Date()
        let student = try model.margins(training, batchSize: options.batchSize) { done in
            if Date().timeIntervalSince(last) >= 5 || done == training.count {
                last = Date()
                Log.write("margin-scale auto: \(done)/\(training.count) rows")
            }
        }
        let teacher = training.map { $0.margin ?? 0 }
        guard let factor = BiEncoderRecipe.marginScale(teacher: teacher, student: student) else {
            throw ValidationError("--margin-scale auto: every teacher margin is zero in \(training.count) training rows")
        }
        guard factor > 0 else {
            throw ValidationError("--margin-scale auto: the start model's margins run against the teacher's (least-squares factor \(factor)); give a factor")
        }
        let meanTeacher = teacher.reduce(0.0) { $0 + Double($1) } / Double(teacher.count)
        let meanStudent = student.reduce(0, +) / Double(student.count)
        Log.write(String(format: "margin-scale auto: %.4f (mean margin teacher %.4f, start model %.4f)", factor, meanTeacher, meanStudent))
        return factor
    }
}
