import Foundation
import Testing
import Tensor
import TestSupport
@testable import Models
@testable import Training

/// PEFT round trip on the real SmolLM2 GGUF (fixture from
/// Scripts/fixtures/lora_smollm2_reference.py): PEFT's own adapter files
/// (float16, rank 1, all seven targets) read by limrank give PEFT's logits,
/// both merged into the quantised model for inference (`--adapter`) and in
/// the training forward pass over the dequantised f32 weights (which undo
/// llama.cpp's Q/K row permutation, so the LoRA rows of q and k are PEFT's).
@Suite struct LoRASmolLM2RoundTripTests {
    /// |logit − PEFT's| allowed (the round-trip bound).
    static let logitTolerance: Float = 1e-3

    struct Reference: Decodable {
        var ids: [Int]
        var max_abs_change: Float
    }

    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("lora/smollm2")
    }

    static func expected() throws -> (Reference, [Float]) {
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory.appendingPathComponent("reference.json")))
        let bytes = try Data(contentsOf: directory.appendingPathComponent("logits.f32"))
        let logits = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (ref, logits)
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func peftAdapterGivesPEFTLogits() throws {
        let (ref, expected) = try Self.expected()
        // The adapter must move the logits well beyond the tolerance, or this test proves nothing.
        #expect(ref.max_abs_change > 100 * Self.logitTolerance)
        let model = try LlamaModel(gguf: Assets.smollm2GGUF)
        let adapter = try LoRAAdapter(directory: Self.directory.appendingPathComponent("adapter"), model: model.configuration)
        #expect(adapter.configuration.rank == 1 && adapter.configuration.targets.count == 7)

        let merged = try model.merging(adapter)
        let inference = try merged.forward(ref.ids, logits: .last).logits
        #expect(inference.count == expected.count)
        let inferenceError = zip(inference, expected).map { abs($0 - $1) }.max()!
        #expect(inferenceError <= Self.logitTolerance, "merged inference: max |Δ| \(inferenceError)")

        let trainer = LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model))
        let all = try trainer.logits(ref.ids, lora: LoRAParameters(adapter, layers: model.configuration.numHiddenLayers))
        let last = Array(all.suffix(model.configuration.vocabSize))
        let trainingError = zip(last, expected).map { abs($0 - $1) }.max()!
        #expect(trainingError <= Self.logitTolerance, "training forward: max |Δ| \(trainingError)")
    }
}
