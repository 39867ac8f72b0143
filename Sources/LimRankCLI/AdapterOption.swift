import ArgumentParser
import Foundation
import Models

/// `--adapter DIR` of the decoder commands: a PEFT LoRA adapter merged into the
/// weights at load (the adapted matrices become f32: ~4x their Q4 size).
struct AdapterOption: ParsableArguments {
    @Option(help: "PEFT LoRA adapter directory (e.g. from `limrank train --method lora`), merged into the decoder at load.")
    var adapter: String?

    func apply(to model: inout LlamaModel) throws {
        guard let adapter else { return }
        let url = URL(fileURLWithPath: (adapter as NSString).expandingTildeInPath)
        model = try validationErrors(message: { "--adapter \(adapter): \($0)" }) {
            try model.merging(try LoRAAdapter(directory: url, model: model.configuration), file: url.path)
        }
    }

    /// Part of a ranking cache key: the adapter's weights file identity.
    var fingerprint: String {
        guard let adapter else { return "" }
        return "|adapter:" + RerankerOptions.modelFingerprint(URL(fileURLWithPath: adapter).appendingPathComponent(LoRAAdapter.weightsFileName))
    }
}
