import ArgumentParser
import Datasets
import Foundation
import Models
import Tokenizers
import Training

/// `limrank train`: fine-tunes a reranker on labelled (query, passage) data.
///
/// `--method cross-encoder` trains a BERT encoder plus a one-logit head with
/// binary cross-entropy (sentence-transformers' CrossEncoder recipe) and
/// writes a `BertForSequenceClassification` directory;
/// `--method lora` (LoRA SFT of decoders) is filled in by the LoRA branch.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a reranker: a BERT cross-encoder, or LoRA SFT of a decoder (LimRank's recipe).",
        discussion: """
        Data: a JSON Lines file, either `limrank synthesize`'s examples.jsonl ({"query", \
        "instruction", "positives": [{"text"}], "negatives": [{"text"}]}: one pair per passage, \
        hard negatives included) or one pair per line ({"query", "passage", "label": true|false}); \
        or a BEIR-style directory with qrels/train.tsv (grade > 0 relevant, 0 not).
        Checkpoints go to OUT/checkpoints every --checkpoint-every steps; after a crash, the same \
        command with --resume continues and ends with the same weights as an uninterrupted run.
        --method lora also reads LLaMA-Factory exports (`limrank synthesize --export sharegpt|alpaca`, \
        .json or .jsonl) whose targets carry the reasoning; labelled pairs become LimRank's prompt with \
        an empty reasoning. It writes a PEFT adapter (use it with --adapter, or `limrank train merge`).
        """,
        subcommands: [TrainMergeCommand.self])

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case crossEncoder = "cross-encoder"
        case lora
    }

    // Optional so that `limrank train merge` parses without them; run() requires them.
    @Option(name: .customLong("method"), help: "cross-encoder or lora (required).")
    var methodOption: Method?
    var method: Method { methodOption ?? .crossEncoder }

    @Option(name: .customLong("data"), help: "Training data: a .jsonl file or a BEIR directory with qrels/train.tsv (required).")
    var dataOption: String?
    var data: String { dataOption ?? "" }

    @Option(help: "Base model: short name, cache entry or directory (cross-encoder: a BERT safetensors directory, default minilm; lora: a Llama/Qwen2/Qwen3 GGUF or safetensors directory, default smollm2).")
    var model: String?

    @Option(name: .customLong("out"), help: "Output directory (the trained model, checkpoints/, training_summary.json) (required).")
    var outOption: String?
    var out: String { outOption ?? "" }

    @Option(help: "Passes over the training data.")
    var epochs = 1

    @Option(help: "Stop after this many optimizer steps (overrides --epochs).")
    var maxSteps: Int?

    @Option(help: "Examples per micro-batch (default 16; lora 1).")
    var batchSize: Int?

    @Option(help: "Micro-batches per optimizer step (default 1; lora 8).")
    var gradAccum: Int?

    @Option(help: "Peak learning rate (default 2e-5; lora 3e-5, LimRank's).")
    var lr: Float?

    @Option(help: "Learning-rate schedule after warmup: linear, cosine or constant (default linear; lora cosine).")
    var scheduler: String?

    @Option(help: "Fraction of the steps spent warming up linearly from 0 (default 0.1; lora 0.03).")
    var warmupRatio: Double?

    @Option(help: "AdamW decoupled weight decay, not on biases and LayerNorm weights (default 0.01; lora 0, the Trainer's).")
    var weightDecay: Float?

    @Option(help: "Gradient clipping: largest global L2 norm.")
    var maxGradNorm: Float = 1

    @Option(help: "Longest tokenized pair; longer passages are truncated, never the query or (lora) the answer (default 256; lora 2500, LimRank's cutoff).")
    var maxSeq: Int?

    @Option(help: "Seed of shuffling, the validation split and the new head.")
    var seed: UInt64 = 12345

    @Option(help: "Write a checkpoint every N optimizer steps (0: only at the end).")
    var checkpointEvery = 0

    @Flag(help: "Continue from the newest checkpoint in OUT/checkpoints.")
    var resume = false

    @Option(help: "Dropout probability (hidden, attention and classifier) while training; default: the base model's config.json (0.1 for MiniLM). 0 turns it off. lora: the LoRA dropout, default 0 (only 0 is implemented).")
    var dropout: Float?

    @Option(help: "Fraction of the examples held out for a validation loss.")
    var validationFraction = 0.01

    @OptionGroup(title: "LoRA (--method lora)") var lora: LoRATrainOptions

    /// Sleeps after each step: lets tests kill a run mid-way on any machine.
    @Option(help: .hidden)
    var stepDelayMs = 0

    func validate() throws {
        if let scheduler, LearningRateSchedule.Kind(rawValue: scheduler) == nil {
            throw ValidationError("--scheduler must be linear, cosine or constant, got \(scheduler)")
        }
        if let maxSeq, maxSeq <= 3 { throw ValidationError("--max-seq must be more than 3") }
        if method != .lora, lora.isSet { throw ValidationError("--rank, --alpha, --target-modules, --recompute and --eval-every are for --method lora") }
    }

    func run() async throws {
        for (flag, value) in [("--method <method>", methodOption as Any?), ("--data <data>", dataOption), ("--out <out>", outOption)] where value == nil {
            throw ValidationError("Missing expected argument '\(flag)'")
        }
        switch method {
        case .crossEncoder:
            try trainCrossEncoder()
        case .lora:
            try trainLoRA()
        }
    }

    var crossEncoderOptions: CrossEncoderTrainingOptions {
        var o = CrossEncoderTrainingOptions()
        o.epochs = epochs
        o.maxSteps = maxSteps
        o.batchSize = batchSize ?? 16
        o.gradientAccumulation = gradAccum ?? 1
        o.learningRate = lr ?? 2e-5
        o.schedule = LearningRateSchedule.Kind(rawValue: scheduler ?? "linear") ?? .linear
        o.warmupRatio = warmupRatio ?? 0.1
        o.weightDecay = weightDecay ?? 0.01
        o.maxGradientNorm = maxGradNorm
        o.seed = seed
        o.checkpointEvery = checkpointEvery
        return o
    }

    func trainCrossEncoder() throws {
        do {
            try crossEncoderOptions.validate()
        } catch let error as TrainingError {
            throw ValidationError(error.description)
        }
        let outURL = URL(fileURLWithPath: out)
        let checkpoints = outURL.appendingPathComponent("checkpoints")
        if !resume, TrainingCheckpoint.latest(in: checkpoints) != nil {
            throw ValidationError("\(checkpoints.path) holds checkpoints of an earlier run: pass --resume to continue it, or choose another --out")
        }
        do {
            let base = try ModelStore().resolve(model ?? "minilm")
            let pairs = try Self.readPairs(data)
            Log.write("read \(pairs.count) pairs (\(pairs.filter(\.relevant).count) relevant) from \(data)")
            let tokenizer = try Tokenizer(directory: base)
            let bert = try BERTModel(directory: base)
            let maxSequence = min(maxSeq ?? 256, bert.configuration.maxPositionEmbeddings)
            let (examples, truncated) = try CrossEncoderData.encode(pairs, tokenizer: tokenizer, maxSequence: maxSequence)
            if !truncated.isEmpty {
                let sample = truncated.prefix(5).map { "\($0.file):\($0.line)" }.joined(separator: ", ")
                Log.write("warning: \(truncated.count) pairs longer than --max-seq \(maxSequence): their passages were truncated (\(sample)\(truncated.count > 5 ? ", …" : ""))")
            }
            let options = crossEncoderOptions
            let (training, validation) = try CrossEncoderTrainer.split(examples, validationFraction: validationFraction, seed: seed)
            var rng = TrainingRNG(seed: seed, stream: 0x4845_4144)  // "HEAD"
            if bert.classifier == nil { Log.write("initialising a new classification head (N(0, 0.02²) weights, zero bias)") }
            if bert.pooler == nil { Log.write("the base model has no pooler: initialising one (N(0, 0.02²) weights, zero bias)") }
            var trainable = try BERTTraining(model: bert, rng: &rng)
            if let dropout {
                guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
                trainable.dropout = BERTDropout(hidden: dropout, attention: dropout, classifier: dropout)
            } else {
                trainable.dropout = try BERTDropout.load(from: base.appendingPathComponent("config.json"))
            }
            var trainer = try CrossEncoderTrainer(
                model: trainable, training: training, validation: validation, options: options,
                runFacts: ["data": URL(fileURLWithPath: data).standardizedFileURL.path, "examples": "\(examples.count)",
                           "model": base.standardizedFileURL.path, "max_seq": "\(maxSequence)",
                           "validation_fraction": "\(validationFraction)",
                           "dropout": "\(trainable.dropout.hidden)/\(trainable.dropout.attention)/\(trainable.dropout.classifier)"])
            let total = options.totalSteps(examples: training.count)
            Log.write("training \(training.count) examples (\(validation.count) held out), \(total) steps of \(options.examplesPerStep)")
            let summary = try trainer.train(checkpointDirectory: checkpoints, resume: resume,
                                            progress: ProgressReporter(total: total, label: "train"),
                                            afterStep: stepDelayMs > 0 ? { _ in usleep(UInt32(stepDelayMs) * 1000) } : nil)
            try CrossEncoderExport.write(trainer.model, base: base, to: outURL, maxLength: maxSequence)
            struct Summary: Encodable {
                var method: String, steps: Int, examples: Int, validationExamples: Int, seconds: Double, tokens: Int
                var losses: [Float], validationLoss: Float?, resumedFrom: Int?
            }
            let s = Summary(method: "cross-encoder", steps: summary.steps, examples: summary.examples,
                            validationExamples: validation.count, seconds: summary.seconds, tokens: summary.tokens,
                            losses: summary.losses, validationLoss: summary.validationLoss, resumedFrom: summary.resumedFrom)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(s).write(to: outURL.appendingPathComponent("training_summary.json"))
            let v = summary.validationLoss.map { String(format: ", validation loss %.4f", $0) } ?? ""
            Log.write("done: \(summary.steps) steps in \(String(format: "%.1f", summary.seconds))s\(v); model in \(outURL.path)")
        } catch let error as TrainingError {
            throw ValidationError(error.description)
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        } catch let error as DatasetError {
            throw ValidationError(error.description)
        }
    }

    /// Pairs from a JSON Lines file, or from a BEIR directory's train qrels.
    static func readPairs(_ path: String) throws -> [CrossEncoderPair] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("--data \(path) does not exist")
        }
        guard isDirectory.boolValue else { return try CrossEncoderData.read(url) }
        // Evaluation collections must never reach training data.
        if url.standardizedFileURL.lastPathComponent.lowercased() == "cranfield" {
            throw ValidationError("--data \(path) is the Cranfield evaluation collection; its queries and qrels must not be trained on")
        }
        let qrels = url.appendingPathComponent("qrels/train.tsv")
        guard FileManager.default.fileExists(atPath: qrels.path) else {
            throw ValidationError("--data \(path) is a directory without qrels/train.tsv (a BEIR training split)")
        }
        let collection = try BEIRDataset.load(directory: url, split: "train")
        let documents = Dictionary(collection.documents.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var pairs: [CrossEncoderPair] = []
        for query in collection.queries {
            let text = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
            for (docID, grade) in collection.qrels[query.id].sorted(by: { $0.key < $1.key }) {
                guard let doc = documents[docID] else { continue }
                pairs.append(CrossEncoderPair(query: text, passage: doc.contents, relevant: grade > 0, file: qrels.path, line: 0))
            }
        }
        guard !pairs.isEmpty else { throw TrainingError.emptyDataSet(file: qrels.path) }
        return pairs
    }
}
