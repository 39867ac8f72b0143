import ArgumentParser
import Foundation
import Models
import Tokenizers
import Training

/// `limrank train lora`: LoRA SFT of a Llama-family decoder on LimRank's
/// pointwise prompt (`LoRARecipe`), written as a PEFT adapter.
struct TrainLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora",
        abstract: "LoRA SFT of a decoder (LimRank's recipe); writes a PEFT adapter.")

    @OptionGroup var flags: TrainFlags

    @OptionGroup(title: "LoRA") var lora: LoRATrainOptions

    func run() throws { try flags.trainLoRA(lora) }
}

extension TrainFlags {
    func trainLoRA(_ lora: LoRATrainOptions) throws {
        if loss != nil { throw ValidationError("--loss is for cross-encoder and bi-encoder (LoRA trains on the answer tokens' cross-entropy)") }
        let (data, outURL) = try requiredPaths()
        _ = try checkpointDirectory(outURL)
        try validationErrors {
            let name = model ?? LoRARecipe.defaultModel
            let base = try ModelStore().resolve(name)
            let records = try TrainingDataFiles.sftRecords(data)
            let (decoder, tokenizer) = try DecoderLoading.load(base)
            let c = decoder.configuration
            let maxSequence = min(maxSeq ?? LoRARecipe.defaultMaxSequence, c.maxPositionEmbeddings)
            // Gemma 3 reads its prompts after <bos> at inference, so it trains on them that way too.
            let encoder = SFTEncoder(tokenizer: tokenizer, maxSequence: maxSequence,
                                     beginningOfSequenceID: decoder.options.architecture == "gemma3" ? c.bosTokenId : nil)
            var notes: [SFTEncoder.Note] = []
            let sequences = try records.map { try encoder.encode($0, notes: &notes) }
            for note in notes.prefix(20) { Log.write("warning: \(note.description)") }
            if notes.count > 20 { Log.write("warning: \(notes.count - 20) more passages truncated") }
            let lengths = sequences.map(\.tokens.count)
            Log.write("read \(records.count) examples from \(data): \(lengths.reduce(0, +)) tokens, longest \(lengths.max() ?? 0), \(sequences.reduce(0) { $0 + $1.targetCount }) answer tokens")

            let options = try trainingOptions(LoRARecipe.defaults)
            let configuration = try lora.configuration(dropout: dropout)
            Log.write("dequantising \(base.lastPathComponent) to f32 for training")
            let weights = LlamaTrainingWeights(model: decoder)
            Log.write(String(format: "frozen base: %.0f MiB f32; LoRA r=%d alpha=%g on %@", Double(weights.byteCount) / 1_048_576,
                             configuration.rank, Double(configuration.alpha), configuration.targets.map(\.rawValue).joined(separator: ",")))
            let run = try LoRARecipe(
                engine: LlamaLoRATrainer(weights: weights, recompute: lora.recompute), sequences: sequences,
                lora: configuration, options: options, baseModel: name, dataFile: data,
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
                            tokensPerSecond: summary.tokensPerSecond, finalLoss: summary.finalLoss ?? .nan,
                            validationLoss: summary.validationLoss, resumedFrom: summary.resumedFrom, truncatedPassages: notes.count)
            try LossCurvePlot.writeRunFiles(summary: s, of: summary, method: "lora", into: outURL)
            Log.write("done: \(summary.steps) steps; PEFT adapter in \(outURL.path) (use --adapter \(outURL.path))")
        }
    }
}
