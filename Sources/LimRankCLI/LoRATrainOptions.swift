import ArgumentParser
import Models
import Training

/// The flags only `limrank train lora` reads (LimRank's values by default).
struct LoRATrainOptions: ParsableArguments {
    @Option(help: "LoRA rank r (default \(LoRAConfiguration().rank)).")
    var rank: Int?

    @Option(help: "LoRA alpha, the scaling is alpha / r (default \(LoRAConfiguration().alpha)).")
    var alpha: Float?

    @Option(help: "Comma-separated linear layers to adapt: q,k,v,o,gate,up,down (or their *_proj names).")
    var targetModules: String?

    @OptionGroup var recomputeOption: RecomputeOption
    var recompute: LlamaLoRATrainer.RecomputePolicy { recomputeOption.recompute }

    var isSet: Bool { rank != nil || alpha != nil || targetModules != nil || recompute != .auto }

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
        let defaults = LoRAConfiguration()
        return LoRAConfiguration(rank: rank ?? defaults.rank, alpha: alpha ?? defaults.alpha, dropout: dropout ?? defaults.dropout, targets: targets)
    }
}

/// `--recompute`, for `train lora` and `bench train --method lora`.
struct RecomputeOption: ParsableArguments {
    @Option(help: ArgumentHelp("LoRA: recompute each layer's activations in the backward pass instead of keeping them: auto (when keeping all would take over 2 GiB for a sequence), always or never.",
                               valueName: "auto|always|never"))
    var recompute: LlamaLoRATrainer.RecomputePolicy = .auto
}

extension LlamaLoRATrainer.RecomputePolicy: ExpressibleByArgument {}
