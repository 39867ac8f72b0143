import ArgumentParser
import Foundation
import Training

/// `limrank train cross-encoder|bi-encoder|lora|merge`: fine-tunes a reranker on
/// labelled (query, passage) data, or merges a LoRA adapter. `limrank train
/// --method cross-encoder|lora` is the older spelling of the first two.
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
        `lora` also reads LLaMA-Factory exports (`limrank synthesize --export sharegpt|alpaca`, \
        .json or .jsonl) whose targets carry the reasoning; labelled pairs become LimRank's prompt with \
        an empty reasoning. It writes a PEFT adapter (use it with --adapter, or `limrank train merge`).
        """,
        subcommands: [TrainCrossEncoderCommand.self, TrainBiEncoderCommand.self, TrainLoRACommand.self, TrainMergeCommand.self])

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case crossEncoder = "cross-encoder"
        case lora
    }

    @Option(help: "cross-encoder or lora: the same as `limrank train cross-encoder|lora`.")
    var method: Method?

    @OptionGroup var flags: TrainFlags

    @OptionGroup(title: "LoRA (lora)") var lora: LoRATrainOptions

    func validate() throws {
        if method == .crossEncoder, lora.isSet { throw ValidationError("--rank, --alpha, --target-modules and --recompute are for lora") }
    }

    func run() async throws {
        switch method {
        case .crossEncoder?: try flags.trainCrossEncoder()
        case .lora?: try flags.trainLoRA(lora)
        case nil: throw ValidationError("Missing a method: limrank train cross-encoder|lora|merge (or --method cross-encoder|lora)")
        }
    }
}
