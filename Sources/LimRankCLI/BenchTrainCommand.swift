import ArgumentParser
import Foundation
import Models
import Training

/// Training throughput on a fixed batch of full-length pairs: forward,
/// backward, clipping and the AdamW update, as Scripts/bench/train_bench.sh
/// times PyTorch on the same model, ids and batch.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput (forward + backward + optimizer): tokens/s and peak RSS.")

    @Option(help: "cross-encoder, or lora (LoRA SFT of a decoder; --model minilm then means smollm2).")
    var method: TrainCommand.Method = .crossEncoder

    @Option(help: "Short name, cache entry or safetensors directory.")
    var model = CrossEncoderRecipe.defaultModel

    @Option(help: "Tokens per sequence.")
    var seq = 128

    @Option(help: "Sequences per batch.")
    var batch = 16

    @Option(help: "Timed optimizer steps (after one untimed warm-up step).")
    var steps = 5

    @Option(help: "text or json")
    var format: OutputFormat = .text

    func validate() throws {
        guard seq > 3, batch > 0, steps > 0 else { throw ValidationError("--seq (> 3), --batch and --steps must be positive") }
    }

    @OptionGroup var recomputeOption: RecomputeOption

    func run() throws {
        if method == .lora { return try runLoRA() }
        let (url, bert) = try validationErrors {
            let url = try ModelStore().resolve(model)
            return (url, try BERTModel(directory: url))
        }
        guard seq <= bert.configuration.maxPositionEmbeddings else {
            throw ValidationError("--seq \(seq) exceeds the model's \(bert.configuration.maxPositionEmbeddings) positions")
        }
        // The encoder bench's id formula; [CLS] … [SEP] … [SEP] with a type switch halfway.
        let examples = (0..<batch).map { b -> BERTTrainingExample in
            var ids = (0..<seq).map { BenchEncoderCommand.tokenID(sequence: b, position: $0, sequenceLength: seq) }
            ids[0] = 101
            ids[seq / 2] = 102
            ids[seq - 1] = 102
            let types = (0..<seq).map { Int32($0 > seq / 2 ? 1 : 0) }
            return BERTTrainingExample(inputIDs: ids, tokenTypeIDs: types, label: Float(b % 2))
        }
        var rng = TrainingRNG(seed: 0, stream: 0x4845_4144)
        // The training loop's own step, one micro-batch of the whole batch.
        var trainable = CrossEncoderRecipe.Model(engine: try BERTTraining(model: bert, rng: &rng), microBatchSize: batch, seed: 0)
        var adam = AdamW(configuration: .init(weightDecay: 0.01))
        var losses: [Float] = []
        func step() throws {
            losses.append(try TrainingLoop<CrossEncoderRecipe.Model>.optimizerStep(
                &trainable, examples: examples, step: losses.count, optimizer: &adam, learningRate: 2e-5, maxGradNorm: 1).loss)
        }
        try step()
        let start = Date()
        for _ in 0..<steps { try step() }
        let seconds = Date().timeIntervalSince(start)
        let tokens = Double(batch * seq * steps)
        let rss = Self.peakRSSMiB()
        if format == .json {
            let json: [String: Any] = ["engine": "limrank", "model": url.lastPathComponent, "batch": batch, "seq": seq, "steps": steps,
                                       "seconds": seconds, "tokens_per_second": tokens / seconds, "peak_rss_mib": rss,
                                       "losses": losses.map(Double.init), "threads": ProcessInfo.processInfo.activeProcessorCount]
            let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "limrank train bench: %@ batch %d x seq %d, %d steps in %.2fs: %.0f tokens/s, peak RSS %.0f MiB",
                         url.lastPathComponent, batch, seq, steps, seconds, tokens / seconds, rss))
        }
    }

    /// VmHWM from /proc/self/status (Linux), in MiB; 0 elsewhere.
    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}

extension BenchTrainCommand {
    /// `bench train --method lora`: see `LoRABenchmark`.
    func runLoRA() throws {
        let name = model == CrossEncoderRecipe.defaultModel ? LoRARecipe.defaultModel : model
        let (url, decoder) = try validationErrors {
            let url = try ModelStore().resolve(name)
            return (url, try DecoderLoading.load(url).0)
        }
        guard seq <= decoder.configuration.maxPositionEmbeddings else {
            throw ValidationError("--seq \(seq) exceeds the model's \(decoder.configuration.maxPositionEmbeddings) positions")
        }
        let weights = LlamaTrainingWeights(model: decoder)
        let r = try LoRABenchmark.run(weights: weights, seq: seq, batch: batch, steps: steps, recompute: recomputeOption.recompute)
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
