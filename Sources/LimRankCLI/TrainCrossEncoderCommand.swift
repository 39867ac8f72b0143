import ArgumentParser
import Foundation
import Models
import Tokenizers
import Training

/// `limrank train cross-encoder`: a BERT encoder plus a one-logit head with
/// binary cross-entropy, or distilled from a teacher's scores with MSE or
/// MarginMSE (sentence-transformers' CrossEncoder recipe and losses,
/// `CrossEncoderRecipe`), written as a `BertForSequenceClassification` directory.
struct TrainCrossEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cross-encoder",
        abstract: "Train a BERT cross-encoder (writes a BertForSequenceClassification directory).")

    @OptionGroup var flags: TrainFlags

    /// `train`'s LoRA flags would land there, unread.
    @ParentCommand var train: TrainCommand

    func validate() throws {
        if train.lora.isSet { throw ValidationError("--rank, --alpha, --target-modules and --recompute are for lora") }
    }

    func run() throws { try flags.trainCrossEncoder() }
}

extension TrainFlags {
    func trainCrossEncoder() throws {
        let options = try trainingOptions(CrossEncoderRecipe.defaults)
        let (data, outURL) = try requiredPaths()
        let checkpoints = try checkpointDirectory(outURL)
        let loss = try self.loss(CrossEncoderLoss.self, default: .bce, method: "cross-encoder")
        try validationErrors {
            let base = try ModelStore().resolve(model ?? CrossEncoderRecipe.defaultModel)
            let pairs = try TrainingDataFiles.pairs(data)
            Log.write("read \(pairs.count) pairs (\(pairs.filter(\.relevant).count) relevant, \(pairs.filter { $0.score != nil }.count) with a teacher score) from \(data)")
            let tokenizer = try Tokenizer(directory: base)
            let bert = try BERTModel(directory: base)
            let maxSequence = min(maxSeq ?? CrossEncoderRecipe.defaultMaxSequence, bert.configuration.maxPositionEmbeddings)
            let (examples, truncated) = try CrossEncoderData.encode(pairs, loss: loss, tokenizer: tokenizer, maxSequence: maxSequence)
            if loss.usesTriples { Log.write("\(loss.rawValue): \(examples.count) (query, positive, negative) triples") }
            if !truncated.isEmpty {
                let sample = truncated.prefix(5).map { "\($0.file):\($0.line)" }.joined(separator: ", ")
                Log.write("warning: \(truncated.count) pairs longer than --max-seq \(maxSequence): their passages were truncated (\(sample)\(truncated.count > 5 ? ", …" : ""))")
            }
            var rng = TrainingRNG(seed: options.seed, stream: 0x4845_4144)  // "HEAD"
            if bert.classifier == nil { Log.write("initialising a new classification head (N(0, 0.02²) weights, zero bias)") }
            if bert.pooler == nil { Log.write("the base model has no pooler: initialising one (N(0, 0.02²) weights, zero bias)") }
            var trainable = try BERTTraining(model: bert, rng: &rng)
            trainable.loss = loss
            if let dropout {
                guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
                trainable.dropout = BERTDropout(hidden: dropout, attention: dropout, classifier: dropout)
            } else {
                trainable.dropout = try BERTDropout.load(from: base.appendingPathComponent("config.json"))
            }
            var loop = try CrossEncoderRecipe.loop(
                model: trainable, examples: examples, options: options,
                runFacts: ["data": URL(fileURLWithPath: data).standardizedFileURL.path, "examples": "\(examples.count)",
                           "model": base.standardizedFileURL.path, "max_seq": "\(maxSequence)",
                           "dropout": "\(trainable.dropout.hidden)/\(trainable.dropout.attention)/\(trainable.dropout.classifier)"])
            Log.write("training \(loop.training.count) examples (\(loop.validation.count) held out), \(loop.totalSteps) steps of \(options.examplesPerStep)")
            let summary = try loop.run(checkpointDirectory: checkpoints, resume: resume,
                                       afterStep: stepDelayMs > 0 ? { _ in usleep(UInt32(stepDelayMs) * 1000) } : nil)
            try CrossEncoderExport.write(loop.model.engine, base: base, to: outURL, maxLength: maxSequence)
            struct Summary: Encodable {
                var method: String, loss: String, steps: Int, examples: Int, validationExamples: Int, seconds: Double, tokens: Int
                var losses: [Float], validationLoss: Double?, resumedFrom: Int?
            }
            let s = Summary(method: "cross-encoder", loss: loss.rawValue, steps: summary.steps, examples: summary.examples,
                            validationExamples: summary.validationExamples, seconds: summary.seconds, tokens: summary.tokens,
                            losses: summary.losses, validationLoss: summary.validationLoss, resumedFrom: summary.resumedFrom)
            try LossCurvePlot.writeRunFiles(summary: s, of: summary, method: "cross-encoder", into: outURL)
            let v = summary.validationLoss.map { String(format: ", validation loss %.4f", $0) } ?? ""
            Log.write("done: \(summary.steps) steps in \(String(format: "%.1f", summary.seconds))s\(v); model in \(outURL.path)")
        }
    }
}
