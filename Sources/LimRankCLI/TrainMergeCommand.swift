import ArgumentParser
import Foundation
import Models
import Training

/// `limrank train merge`: base + LoRA adapter -> one safetensors checkpoint.
struct TrainMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a PEFT LoRA adapter into its base decoder and write f32 safetensors (transformers' names) + config.json.")

    /// `--model` (the base) and `--out` are `train`'s own flags: a subcommand
    /// that declared them again would not receive them.
    @ParentCommand var train: TrainCommand

    @Option(help: "PEFT adapter directory (adapter_config.json + adapter_model.safetensors). Also give --model (the base, default \(LoRARecipe.defaultModel)) and --out.")
    var adapter: String

    func run() throws {
        guard let out = train.flags.outOption else { throw ValidationError("Missing expected argument '--out <out>'") }
        try validationErrors {
            let base = try ModelStore().resolve(train.flags.model ?? LoRARecipe.defaultModel)
            let (decoder, _) = try DecoderLoading.load(base)
            let lora = try LoRAAdapter(directory: URL(fileURLWithPath: adapter), model: decoder.configuration)
            let weights = LlamaTrainingWeights(model: decoder)
            try LlamaTrainingWeights.writeMerged(weights, adapter: lora, to: URL(fileURLWithPath: out))
            Log.write("merged \(adapter) into \(base.lastPathComponent): \(out)/model.safetensors + config.json")
        }
    }
}
