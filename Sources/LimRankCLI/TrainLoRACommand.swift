import ArgumentParser
import Foundation
import ModelFormats
import Models
import Tokenizers
import Training

/// The flags only `limrank train --method lora` reads (LimRank's values by default).
struct LoRATrainOptions: ParsableArguments {
    @Option(help: "LoRA rank r.")
    var rank: Int?

    @Option(help: "LoRA alpha (scaling alpha / r).")
    var alpha: Float?

    @Option(help: "Comma-separated linear layers to adapt: q,k,v,o,gate,up,down (or their *_proj names).")
    var targetModules: String?

    @Option(help: ArgumentHelp("Recompute each layer's activations in the backward pass instead of keeping them: auto (when keeping all would take over 2 GiB for a sequence), always or never.",
                               valueName: "auto|always|never"))
    var recompute: LlamaLoRATrainer.RecomputePolicy = .auto

    @Option(help: "Validation loss every N optimizer steps (0: at the end only).")
    var evalEvery = 0

    var isSet: Bool { rank != nil || alpha != nil || targetModules != nil || recompute != .auto || evalEvery != 0 }

    /// `dropout`: train's --dropout (LoRA dropout; only 0, LimRank's, is implemented).
    func configuration(dropout: Float?) throws -> LoRAConfiguration {
        var targets = LoRATarget.allCases
        if let targetModules {
            targets = []
            for name in targetModules.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let t = LoRATarget(name: name) else {
                    throw ValidationError("--target-modules: '\(name)' is not one of q, k, v, o, gate, up, down")
                }
                if !targets.contains(t) { targets.append(t) }
            }
        }
        return LoRAConfiguration(rank: rank ?? 32, alpha: alpha ?? 64, dropout: dropout ?? 0, targets: targets)
    }
}

/// A decoder to fine-tune: its weights and the tokenizer that goes with it.
enum DecoderLoading {
    static func load(_ url: URL) throws -> (LlamaModel, Tokenizer) {
        guard let model = try ModelRegistry.load(url) as? LlamaModel else {
            throw ValidationError("\(url.path) is not a Llama-family decoder (llama, qwen2, qwen3)")
        }
        let tokenizer = url.pathExtension.lowercased() == "gguf" ? try Tokenizer(gguf: url) : try Tokenizer(directory: url)
        return (model, tokenizer)
    }
}

extension TrainCommand {
    /// SFT records from `--data`: LLaMA-Factory exports (Alpaca/ShareGPT, .json
    /// or .jsonl, whose targets carry the reasoning), or labelled pairs
    /// (examples.jsonl, pair lines, a BEIR train split) turned into LimRank's
    /// prompt with an empty reasoning.
    static func readSFTRecords(_ path: String) throws -> [SFTRecord] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("--data \(path) does not exist")
        }
        if !isDirectory.boolValue, isLLaMAFactoryExport(url) {
            let records = try SFTDataReader.read(url)
            guard !records.isEmpty else { throw TrainingError.emptyDataSet(file: url.path) }
            return records
        }
        return try readPairs(path).map { SFTRecord(pair: $0) }
    }

    /// A .json file, or JSON Lines whose first record is ShareGPT (`conversations`)
    /// or Alpaca (`instruction` with `output`): synthesized examples carry an
    /// `instruction` too (FollowIR's), but never an `output`.
    static func isLLaMAFactoryExport(_ url: URL) -> Bool {
        if url.pathExtension.lowercased() == "json" { return true }
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = String(decoding: (try? handle.read(upToCount: 1 << 16)) ?? Data(), as: UTF8.self)
        guard let first = head.split(separator: "\n").first(where: { !$0.allSatisfy(\.isWhitespace) }),
              let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] else { return false }
        return object["conversations"] != nil || (object["instruction"] != nil && object["output"] != nil)
    }

    func trainLoRA() throws {
        let outURL = URL(fileURLWithPath: out)
        let checkpoints = outURL.appendingPathComponent("checkpoints")
        if !resume, TrainingCheckpoint.latest(in: checkpoints) != nil {
            throw ValidationError("\(checkpoints.path) holds checkpoints of an earlier run: pass --resume to continue it, or choose another --out")
        }
        do {
            let name = model ?? "smollm2"
            let base = try ModelStore().resolve(name)
            let records = try Self.readSFTRecords(data)
            let (decoder, tokenizer) = try DecoderLoading.load(base)
            let c = decoder.configuration
            let maxSequence = min(maxSeq ?? 2500, c.maxPositionEmbeddings)
            let encoder = SFTEncoder(tokenizer: tokenizer, maxSequence: maxSequence)
            var notes: [SFTEncoder.Note] = []
            let sequences = try records.map { try encoder.encode($0, notes: &notes) }
            for note in notes.prefix(20) { Log.write("warning: \(note.description)") }
            if notes.count > 20 { Log.write("warning: \(notes.count - 20) more passages truncated") }
            let lengths = sequences.map(\.tokens.count)
            Log.write("read \(records.count) examples from \(data): \(lengths.reduce(0, +)) tokens, longest \(lengths.max() ?? 0), \(sequences.reduce(0) { $0 + $1.targetCount }) answer tokens")

            let options = LoRAFineTuning.Options(
                lora: try lora.configuration(dropout: dropout), learningRate: lr ?? 3e-5,
                schedule: LearningRateSchedule.Kind(rawValue: scheduler ?? "cosine") ?? .cosine,
                warmupRatio: warmupRatio ?? 0.03, epochs: epochs, maxSteps: maxSteps,
                batchSize: batchSize ?? 1, gradientAccumulation: gradAccum ?? 8,
                optimizer: AdamW.Configuration(weightDecay: weightDecay ?? 0), maxGradNorm: maxGradNorm,
                seed: seed, validationFraction: validationFraction, checkpointEvery: checkpointEvery,
                evaluateEvery: lora.evalEvery)
            Log.write("dequantising \(base.lastPathComponent) to f32 for training")
            let weights = LlamaTrainingWeights(model: decoder)
            Log.write(String(format: "frozen base: %.0f MiB f32; LoRA r=%d alpha=%g on %@", Double(weights.byteCount) / 1_048_576,
                             options.lora.rank, Double(options.lora.alpha), options.lora.targets.map(\.rawValue).joined(separator: ",")))
            let run = try LoRAFineTuning(
                trainer: LlamaLoRATrainer(weights: weights, recompute: lora.recompute), sequences: sequences,
                options: options, baseModel: name, dataFile: data,
                runFacts: ["data": URL(fileURLWithPath: data).standardizedFileURL.path, "examples": "\(sequences.count)",
                           "model": base.standardizedFileURL.path, "max_seq": "\(maxSequence)"])
            Log.write("training \(run.train.count) examples (\(run.validation.count) held out), \(run.totalSteps) steps of \(run.examplesPerStep)")
            let delay = stepDelayMs
            let summary = try run.run(output: outURL, resume: resume,
                                      afterStep: delay > 0 ? { _ in usleep(UInt32(delay) * 1000) } : nil)
            // The prompt format the adapter was trained with, for `rerank --reranker pointwise`.
            try Data(#"{"pointwise_prompt_format": "limrank"}"#.utf8).write(to: outURL.appendingPathComponent("limrank.json"))
            struct Summary: Encodable {
                var method: String, steps: Int, examples: Int, validationExamples: Int, tokensPerSecond: Double
                var finalLoss: Float, validationLoss: Double?, resumedFrom: Int?, truncatedPassages: Int
            }
            let s = Summary(method: "lora", steps: summary.steps, examples: run.train.count, validationExamples: run.validation.count,
                            tokensPerSecond: summary.tokensPerSecond, finalLoss: summary.finalLoss,
                            validationLoss: summary.validationLoss, resumedFrom: summary.resumedFrom, truncatedPassages: notes.count)
            let json = JSONEncoder()
            json.outputFormatting = [.prettyPrinted, .sortedKeys]
            try json.encode(s).write(to: outURL.appendingPathComponent("training_summary.json"))
            Log.write("done: \(summary.steps) steps; PEFT adapter in \(outURL.path) (use --adapter \(outURL.path))")
        } catch let error as TrainingError {
            throw ValidationError(error.description)
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        }
    }
}

/// `limrank train merge`: base + LoRA adapter -> one safetensors checkpoint.
struct TrainMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a PEFT LoRA adapter into its base decoder and write f32 safetensors (transformers' names) + config.json.")

    /// `--model` (default smollm2) and `--out` are `train`'s own options.
    @ParentCommand var train: TrainCommand

    @Option(help: "PEFT adapter directory (adapter_config.json + adapter_model.safetensors). Also give --model (the base, default smollm2) and --out.")
    var adapter: String

    func run() throws {
        guard let out = train.outOption else { throw ValidationError("Missing expected argument '--out <out>'") }
        do {
            let base = try ModelStore().resolve(train.model ?? "smollm2")
            let (decoder, _) = try DecoderLoading.load(base)
            let lora = try LoRAAdapter(directory: URL(fileURLWithPath: adapter), model: decoder.configuration)
            let weights = LlamaTrainingWeights(model: decoder)
            try LlamaTrainingWeights.writeMerged(weights, adapter: lora, to: URL(fileURLWithPath: out))
            Log.write("merged \(adapter) into \(base.lastPathComponent): \(out)/model.safetensors + config.json")
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        }
    }
}

/// `--adapter DIR` of the decoder commands: a PEFT LoRA adapter merged into the
/// weights at load (the adapted matrices become f32: ~4x their Q4 size).
struct AdapterOption: ParsableArguments {
    @Option(help: "PEFT LoRA adapter directory (e.g. from `limrank train --method lora`), merged into the decoder at load.")
    var adapter: String?

    func apply(to model: inout LlamaModel) throws {
        guard let adapter else { return }
        let url = URL(fileURLWithPath: (adapter as NSString).expandingTildeInPath)
        do {
            model = try model.merging(try LoRAAdapter(directory: url, model: model.configuration), file: url.path)
        } catch let error as ModelsError {
            throw ValidationError("--adapter \(adapter): \(error.description)")
        }
    }

    /// Part of a ranking cache key: the adapter's weights file identity.
    var fingerprint: String {
        guard let adapter else { return "" }
        return "|adapter:" + RerankerOptions.modelFingerprint(URL(fileURLWithPath: adapter).appendingPathComponent(LoRAAdapter.weightsFileName))
    }
}

extension BenchTrainCommand {
    /// `bench train --method lora`: see `LoRABenchmark`.
    func runLoRA() throws {
        let name = model == "minilm" ? "smollm2" : model
        let url: URL, decoder: LlamaModel
        do {
            url = try ModelStore().resolve(name)
            (decoder, _) = try DecoderLoading.load(url)
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        }
        guard seq <= decoder.configuration.maxPositionEmbeddings else {
            throw ValidationError("--seq \(seq) exceeds the model's \(decoder.configuration.maxPositionEmbeddings) positions")
        }
        let weights = LlamaTrainingWeights(model: decoder)
        let r = try LoRABenchmark.run(weights: weights, seq: seq, batch: batch, steps: steps, recompute: recompute)
        let rss = Self.peakRSSMiB()
        let rate = Double(r.tokens) / r.seconds
        if format == .json {
            let json: [String: Any] = ["engine": "limrank", "method": "lora", "model": url.lastPathComponent, "batch": batch, "seq": seq,
                                       "steps": steps, "seconds": r.seconds, "tokens_per_second": rate, "peak_rss_mib": rss,
                                       "recompute": r.recomputed, "losses": r.losses.map(Double.init),
                                       "threads": ProcessInfo.processInfo.activeProcessorCount]
            print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "limrank LoRA train bench: %@ batch %d x seq %d, %d steps in %.2fs: %.0f tokens/s (%.3f steps/s), peak RSS %.0f MiB, %@",
                         url.lastPathComponent, batch, seq, steps, r.seconds, rate, Double(steps) / r.seconds, rss,
                         r.recomputed ? "layers recomputed" : "activations kept"))
        }
    }
}

extension LlamaLoRATrainer.RecomputePolicy: ExpressibleByArgument {}
