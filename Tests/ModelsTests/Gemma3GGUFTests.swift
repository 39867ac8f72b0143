import Foundation
import Grammar
import Testing
import Tensor
import TestSupport
import Tokenizers
@testable import Models

/// Gemma 3 270M base (the shipped Q4_K_M GGUF) against transformers loading
/// the same file dequantised to f32 (Scripts/fixtures/gemma3_logits.py): the
/// top-50 next-token logits and 32-token greedy continuations of 10 prompts,
/// two of them longer than the 512-token sliding window.
@Suite struct Gemma3GGUFTests {
    /// Largest |logit - reference| allowed on the compared logits.
    static let logitTolerance: Float = 1e-3
    /// Summary statistics of the whole vector (mean, std) are compared this closely.
    static let statisticTolerance: Double = 1e-3

    struct Reference: Decodable {
        struct Prompt: Decodable {
            var text: String
            var ids: [Int]
            var top_ids: [Int]
            var top_logits: [Float]
            var mean: Double
            var std: Double
            var min: Float
            var max: Float
            var greedy: [Int]
        }
        var vocab_size: Int
        var greedy_tokens: Int
        var prompts: [Prompt]
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: LlamaTests.fixtures.appendingPathComponent("gemma3_logits.json")))
    }

    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func ggufMetadataBecomesTheConfiguration() throws {
        let model = try LlamaModel(gguf: Assets.gemma3GGUF)
        let c = model.configuration
        #expect(model.options.architecture == "gemma3")
        #expect(c.numHiddenLayers == 18 && c.hiddenSize == 640 && c.intermediateSize == 2048)
        #expect(c.numAttentionHeads == 4 && c.numKeyValueHeads == 1 && c.headDim == 256)
        #expect(c.vocabSize == 262_144 && c.maxPositionEmbeddings == 32768 && c.ropeTheta == 1_000_000)
        #expect(c.slidingWindow == 512 && c.localRopeTheta == 10000 && c.attentionScale == 1 / 16)
        #expect(c.hiddenAct == "gelu_pytorch_tanh" && c.embeddingScale == Float(640).squareRoot())
        #expect(model.layers.enumerated().filter { $0.element.slidingWindow == nil }.map(\.offset) == [5, 11, 17])
        #expect(model.outputHead.storage === model.embeddings.storage)  // tied: the head reads token_embd
        #expect("\(model.options.ropeLayout)" == "neox")
    }

    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func nextTokenLogitsMatchTransformers() throws {
        let model = try LlamaModel(gguf: Assets.gemma3GGUF)
        let ref = try Self.reference()
        var worst: Float = 0
        for p in ref.prompts {
            var cache = model.makeCache(capacity: p.ids.count)
            let logits = try model.prefill(p.ids, cache: &cache)
            #expect(logits.count == ref.vocab_size)
            for (id, expected) in zip(p.top_ids, p.top_logits) {
                worst = max(worst, abs(logits[id] - expected))
            }
            let n = Double(logits.count)
            let mean = logits.reduce(0.0) { $0 + Double($1) } / n
            let std = (logits.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
            #expect(abs(mean - p.mean) <= Self.statisticTolerance, "\(p.text.prefix(40)): mean \(mean) vs \(p.mean)")
            #expect(abs(std - p.std) <= Self.statisticTolerance, "\(p.text.prefix(40)): std \(std) vs \(p.std)")
            #expect(abs((logits.min() ?? 0) - p.min) <= Self.logitTolerance)
            #expect(logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) } == p.top_ids[0])
        }
        print("gemma3 270M: max |logit difference| on the top-50 of \(ref.prompts.count) prompts: \(worst)")
        #expect(worst <= Self.logitTolerance, "max |logit difference| on the top-50 \(worst)")
    }

    /// 32 greedy tokens through the KV cache; the long prompts decode past the window.
    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func greedyContinuationsMatchTransformers() throws {
        let generator = try TextGenerator(gguf: Assets.gemma3GGUF)
        let ref = try Self.reference()
        for p in ref.prompts {
            let out = try generator.generate(
                tokens: p.ids, parameters: GenerationParameters(maxTokens: ref.greedy_tokens, stopAtEndOfSequence: false))
            #expect(out.tokens == p.greedy, "\(p.text.prefix(40))")
        }
    }

    /// Constrained decoding over the SentencePiece vocabulary: "▁" pieces
    /// spell their space, so grammars with spaces and JSON schemas come out whole.
    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func constrainedDecodingFollowsGrammarsAndSchemas() throws {
        let generator = try TextGenerator(gguf: Assets.gemma3GGUF)
        let grammar = try Grammar(gbnf: #"root ::= "The answer is" (" yes" | " no") ", because it is " [a-z]+ " " [a-z]+ ".""#)
        let answer = try generator.generate(prompt: "Is Paris in France? ",
                                            parameters: GenerationParameters(maxTokens: 40, grammar: grammar))
        #expect(answer.finishReason == .endOfSequence)
        #expect(answer.text.range(of: #"^The answer is (yes|no), because it is [a-z]+ [a-z]+\.$"#, options: .regularExpression) != nil,
                "\(answer.text)")
        let schema = #"{"type":"object","properties":{"city":{"type":"string"},"population":{"type":"integer"}},"required":["city","population"]}"#
        let json = try generator.generate(prompt: "The largest city of France as JSON: ",
                                          parameters: GenerationParameters(maxTokens: 40, grammar: try JSONSchemaGrammar.grammar(schema: schema)))
        #expect(json.finishReason == .endOfSequence)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [String: Any], "\(json.text)")
        #expect(object["city"] is String && object["population"] is Int, "\(json.text)")
    }

    /// The GGUF's own tokenizer gives transformers' ids, BOS first as the GGUF asks.
    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func promptsStartWithBOSAndMatchTheFixtureIDs() throws {
        let generator = try TextGenerator(gguf: Assets.gemma3GGUF)
        #expect(generator.beginningOfSequenceID == 2)
        #expect(generator.chatTemplate == .gemma)
        // <end_of_turn> ends generation as well as <eos>.
        let endOfTurn = try #require(generator.tokenizer.tokenID(for: "<end_of_turn>"))
        #expect(generator.endOfSequenceIDs.contains(1) && generator.endOfSequenceIDs.contains(endOfTurn))
        for p in try Self.reference().prompts {
            #expect(generator.encodePrompt(p.text) == p.ids, "\(p.text.prefix(40))")
        }
        #expect(generator.promptTokens("Hi", chat: true).first == 2)
        #expect(generator.promptTokens("Hi", chat: true) == generator.encodePrompt("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"))
    }
}
