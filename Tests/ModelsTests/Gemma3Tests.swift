import Foundation
import Testing
import Tensor
import TestSupport
@testable import Models

/// Parity of the tiny random Gemma 3 decoder against transformers (fixture
/// from Scripts/fixtures/tiny_gemma3.py: 3 layers [sliding, full, sliding],
/// window 4, query_pre_attn_scalar 24, (1 + w) norms): logits of every
/// position and attention probabilities of every layer, and the KV-cache
/// path decoding far past the window.
@Suite struct Gemma3Tests {
    static let fixtureName = "tiny-gemma3"

    static func model() throws -> LlamaModel { try LlamaModel(gemma3: QwenTests.fixture(fixtureName)) }

    @Test func configurationReadsGemmaKeys() throws {
        let c = try Gemma3Configuration.load(from: QwenTests.fixture(Self.fixtureName).appendingPathComponent("config.json"))
        #expect(c.base.modelType == "gemma3_text")
        #expect(c.base.hiddenAct == "gelu_pytorch_tanh")
        #expect(c.base.slidingWindow == 4)
        #expect(c.base.slidingLayers == [true, false, true])
        #expect(c.base.ropeTheta == 1_000_000 && c.base.localRopeTheta == 10000)
        #expect(c.base.queryPreAttentionScalar == 24)
        #expect(c.base.embeddingScale == Float(64).squareRoot())
        #expect(c.base.tieWordEmbeddings)
        #expect(c.base.ropeTheta(layer: 0) == 10000 && c.base.ropeTheta(layer: 1) == 1_000_000)
        #expect(c.base.slidingWindow(layer: 1) == nil && c.base.slidingWindow(layer: 2) == 4)
    }

    /// transformers' default layout and llama.cpp's: layer i is global iff (i + 1) % 6 == 0.
    @Test func slidingPatternOfSix() {
        let layers = Gemma3Configuration.slidingLayers(count: 18, pattern: 6)
        #expect(layers.enumerated().filter { !$0.element }.map(\.offset) == [5, 11, 17])
    }

    @Test func matchesTransformers() throws {
        let model = try Self.model()
        #expect(model.layers[0].queryNorm != nil && model.layers[0].attentionOutputNorm != nil)
        #expect(model.layers[0].feedForwardOutputNorm != nil)
        #expect(model.layers.map(\.slidingWindow) == [4, nil, 4])
        #expect(model.outputHead.storage === model.embeddings.storage)  // tied
        try QwenTests.checkParity(model, try QwenTests.reference(Self.fixtureName))
    }

    /// Prefill, then one-token steps through the cache far past the window
    /// (20 tokens, window 4), in both cache precisions' exact one, give
    /// transformers' logits of every position; so do prefill slices.
    @Test func cachedDecodePastTheWindowMatchesTransformers() throws {
        let model = try Self.model()
        let ref = try QwenTests.reference(Self.fixtureName).sequences[2]
        #expect(ref.ids.count > 4 * model.configuration.slidingWindow!)
        for prompt in [1, 3, 6] {
            var cache = model.makeCache(capacity: ref.ids.count)
            var rows = try model.forward(Array(ref.ids[0..<prompt]), cache: &cache, logits: .all).logits
            for id in ref.ids[prompt...] {
                let step = try model.forward([id], cache: &cache, logits: .last, returnAttentions: [0])
                rows += step.logits
                // A sliding layer's decode row gives no weight outside the window.
                let p = try #require(step.attentions[0])
                let total = cache.count
                for h in 0..<model.configuration.numAttentionHeads {
                    let row = p[(h * total)..<((h + 1) * total)]
                    #expect(row.prefix(max(0, total - 4)).allSatisfy { $0 == 0 })
                    #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                }
            }
            let d = QwenTests.maxDifference(rows, ref.logits.flatMap { $0 })
            #expect(d <= QwenTests.logitTolerance, "prompt \(prompt): cached logits differ by \(d)")
        }
        for chunk in [3, 5] {
            var cache = model.makeCache(capacity: ref.ids.count)
            let last = try model.prefill(ref.ids, cache: &cache, chunk: chunk)
            let d = QwenTests.maxDifference(last, ref.logits.last!)
            #expect(d <= QwenTests.logitTolerance, "chunk \(chunk): last logits differ by \(d)")
        }
    }

    /// An f16 cache stays within its rounding of the f32 one past the window.
    @Test func halfCacheDecodesPastTheWindow() throws {
        var model = try Self.model()
        model.kvCachePrecision = .float16
        let ref = try QwenTests.reference(Self.fixtureName).sequences[2]
        var cache = model.makeCache(capacity: ref.ids.count)
        var rows = try model.forward(Array(ref.ids[0..<2]), cache: &cache, logits: .all).logits
        for id in ref.ids[2...] { rows += try model.forward([id], cache: &cache).logits }
        let d = QwenTests.maxDifference(rows, ref.logits.flatMap { $0 })
        #expect(d <= 1e-2, "f16 cached logits differ by \(d)")
    }

    @Test func registryLoadsByModelType() throws {
        let loaded = try ModelRegistry.load(QwenTests.fixture(Self.fixtureName))
        let model = try #require(loaded as? LlamaModel)
        #expect(model.options.architecture == "gemma3")
    }

    @Test func chatTemplateRendersGemmaTurns() {
        let text = ChatTemplate.gemma.render([ChatMessage(.user, "Hi")])
        #expect(text == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
        let withSystem = ChatTemplate.gemma.render([ChatMessage(.system, "Be brief."), ChatMessage(.user, "Hi")],
                                                   addGenerationPrompt: false)
        // Gemma has no system role: its template puts the system text first in the first user turn.
        #expect(withSystem == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n")
        let turns = ChatTemplate.gemma.render([ChatMessage(.user, "a"), ChatMessage(.assistant, "b"), ChatMessage(.user, "c")])
        #expect(turns == "<start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n<start_of_turn>user\nc<end_of_turn>\n<start_of_turn>model\n")
    }
}
