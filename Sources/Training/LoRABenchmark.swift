import Foundation
import Models

/// LoRA SFT throughput on a fixed synthetic batch (`limrank bench train
/// --method lora`, Scripts/bench/train_lora_bench.sh): `batch` sequences of
/// `seq` tokens (the decoder bench's id formula), the loss on the second
/// half of each (the "answer"), LoRA r 32 / alpha 64 on all seven targets,
/// one optimizer step per batch (the training loop's step: forward, backward, clipping, AdamW), as
/// Scripts/bench/train_lora_bench.py runs PyTorch + PEFT.
public enum LoRABenchmark {
    /// Token id of position `p` of sequence `s` (deterministic, spread over the vocabulary).
    public static func tokenID(sequence s: Int, position p: Int, vocabulary: Int) -> Int {
        (1000 + 7919 * s + 104_729 * p + (p * p) % 9973) % max(1, vocabulary - 1000) + 500
    }

    public static func batch(seq: Int, batch: Int, vocabulary: Int) -> [TrainingSequence] {
        (0..<batch).map { s in
            TrainingSequence(tokens: (0..<seq).map { tokenID(sequence: s, position: $0, vocabulary: vocabulary) },
                             targets: (0..<seq).map { $0 >= seq / 2 })
        }
    }

    public struct Result: Sendable {
        public var seconds: Double
        public var tokens: Int
        public var losses: [Float]
        /// Whether the policy recomputed each layer at this sequence length.
        public var recomputed: Bool
    }

    /// One untimed warm-up step, then `steps` timed ones.
    public static func run(weights: LlamaTrainingWeights, seq: Int, batch size: Int, steps: Int, recompute: LlamaLoRATrainer.RecomputePolicy,
                           rank: Int = 32, alpha: Float = 64) throws -> Result {
        let c = weights.configuration
        let engine = LlamaLoRATrainer(weights: weights, recompute: recompute)
        let adapter = try LoRAAdapter(configuration: LoRAConfiguration(rank: rank, alpha: alpha), model: c, seed: 0)
        var model = LoRARecipe.Model(engine: engine, parameters: LoRAParameters(adapter, layers: c.numHiddenLayers))
        var optimizer = AdamW(configuration: AdamW.Configuration(weightDecay: 0))
        let data = batch(seq: seq, batch: size, vocabulary: c.vocabSize)
        var losses: [Float] = []
        func step() throws {
            losses.append(try TrainingLoop<LoRARecipe.Model>.optimizerStep(&model, examples: data, step: losses.count, optimizer: &optimizer,
                                                         learningRate: 1e-4, maxGradNorm: 1).loss)
        }
        try step()
        let start = Date()
        for _ in 0..<steps { try step() }
        return Result(seconds: Date().timeIntervalSince(start), tokens: size * seq * steps, losses: losses,
                      recomputed: engine.recomputes(tokens: seq))
    }
}
