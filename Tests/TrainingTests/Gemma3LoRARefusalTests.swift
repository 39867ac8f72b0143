import Foundation
import Testing
@testable import Models
@testable import Training

/// The LoRA backward covers Llama, Qwen2 and Qwen3; Gemma 3's forward
/// options (output norms, GeGLU, scaled embedding, sliding windows) have no
/// backward yet, so training and merging a Gemma 3 base is refused with a
/// typed error instead of producing wrong gradients.
@Suite struct Gemma3LoRARefusalTests {
    static let gemmaConfig = #"""
    {"model_type": "gemma3_text", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
     "max_position_embeddings": 128, "sliding_window": 4}
    """#

    @Test func gemmaIsRefusedAndLlamaIsNot() throws {
        let gemma = try JSONDecoder().decode(Gemma3Configuration.self, from: Data(Self.gemmaConfig.utf8))
        #expect(throws: TrainingError.self) { try LlamaLoRATrainer.checkSupported(gemma.base) }
        let llama = LlamaConfiguration(vocabSize: 256, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2,
                                       numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 128,
                                       rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: true)
        try LlamaLoRATrainer.checkSupported(llama)
    }
}
