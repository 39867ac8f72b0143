import Foundation
import Testing
import Tensor
import Tokenizers
@testable import Models

/// Sampling, chat template and the generation loop (stop strings, EOS, limits),
/// driven by the tiny Qwen2 fixture with a 256-token byte-level tokenizer
/// (token i is byte i), so the loop runs on a real model without the big one.
@Suite struct GenerationTests {
    /// Sampling frequencies must land this close to the nucleus probabilities
    /// (4,000 seeded draws: the binomial standard deviation is below 0.008).
    static let frequencyTolerance = 0.03

    static func byteTokenizer() throws -> Tokenizer {
        let tokens = (0..<256).map { String(ByteLevelAlphabet.scalarForByte[$0]) }
        return try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: [], pre: "gpt2")
    }

    static func tinyGenerator(eos: Set<Int> = []) throws -> TextGenerator {
        let model = try LlamaModel(qwen2: QwenTests.fixture("tiny-qwen2"))
        return TextGenerator(model: model, tokenizer: try byteTokenizer(), endOfSequenceIDs: eos, identifier: "tiny-qwen2")
    }

    @Test func greedyPicksTheArgmaxAndIgnoresTheSeed() {
        var a = Sampler(SamplingParameters(temperature: 0, seed: 1))
        var b = Sampler(SamplingParameters(temperature: 0, seed: 2))
        let logits: [Float] = [0.5, 3, -1, 3, 2.9]
        #expect(a.sample(logits) == 1)  // first of the tied maxima
        #expect(b.sample(logits) == 1)
    }

    @Test func samplingIsReproducibleForASeedAndVariesAcrossSeeds() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        func draws(_ seed: UInt64) -> [Int] {
            var s = Sampler(SamplingParameters(temperature: 1, topP: 0.95, seed: seed))
            return (0..<64).map { _ in s.sample(logits) }
        }
        #expect(draws(42) == draws(42))
        #expect(draws(42) != draws(43))
    }

    @Test func nucleusKeepsTheSmallestSetReachingTopP() {
        // softmax at T=1 of ln([4, 3, 2, 1]) = [0.4, 0.3, 0.2, 0.1]
        let logits: [Float] = [4, 3, 2, 1].map { Float(Foundation.log(Double($0))) }
        let kept = logits.withUnsafeBufferPointer { Sampler.nucleus($0, temperature: 1, topP: 0.65) }
        #expect(kept.map(\.id) == [0, 1])
        #expect(abs(kept[0].probability - 4.0 / 7) < 1e-6)
        let all = logits.withUnsafeBufferPointer { Sampler.nucleus($0, temperature: 1, topP: 1) }
        #expect(all.map(\.id) == [0, 1, 2, 3])
        #expect(abs(all[3].probability - 0.1) < 1e-6)
        // Temperature 0.5 squares the odds: [16, 9, 4, 1] / 30.
        let sharp = logits.withUnsafeBufferPointer { Sampler.nucleus($0, temperature: 0.5, topP: 1) }
        #expect(abs(sharp[0].probability - 16.0 / 30) < 1e-6)
        // A tiny top-p still keeps the most likely token.
        let one = logits.withUnsafeBufferPointer { Sampler.nucleus($0, temperature: 1, topP: 0.01) }
        #expect(one.map(\.id) == [0])
    }

    @Test func sampledFrequenciesFollowTheNucleus() {
        let logits: [Float] = [4, 3, 2, 1].map { Float(Foundation.log(Double($0))) }
        var sampler = Sampler(SamplingParameters(temperature: 1, topP: 0.65, seed: 7))
        var counts = [0, 0, 0, 0]
        let n = 4000
        for _ in 0..<n { counts[sampler.sample(logits)] += 1 }
        #expect(counts[2] == 0 && counts[3] == 0)
        #expect(abs(Double(counts[0]) / Double(n) - 4.0 / 7) < Self.frequencyTolerance)
    }

    @Test func invalidSamplingParametersAreRejected() {
        #expect(throws: ModelsError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: ModelsError.self) { try SamplingParameters(temperature: 1, topP: 0).validate() }
        #expect(throws: ModelsError.self) { try SamplingParameters(temperature: .nan).validate() }
    }

    /// The text SmolLM2's Jinja template renders (tokenizer.chat_template of its GGUF).
    @Test func smolLM2TemplateMatchesItsJinja() {
        let rendered = ChatTemplate.smolLM2.render([ChatMessage(.user, "Hi there")])
        #expect(rendered == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
        let withSystem = ChatTemplate.smolLM2.render(
            [ChatMessage(.system, "Be brief."), ChatMessage(.user, "Q"), ChatMessage(.assistant, "A")],
            addGenerationPrompt: false)
        #expect(withSystem == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n")
        #expect(ChatTemplate.chatML.render([ChatMessage(.user, "x")]) == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n")
        #expect(ChatTemplate.recognising("{{ '<|im_start|>' }} You are a helpful AI assistant named SmolLM, trained by Hugging Face <|im_end|>") == .smolLM2)
        #expect(ChatTemplate.recognising("[INST] {{ m }} [/INST]") == nil)
    }

    @Test func greedyGenerationMatchesStepwiseArgmax() throws {
        let gen = try Self.tinyGenerator()
        let prompt = [72, 105, 33]
        let result = try gen.generate(tokens: prompt, parameters: GenerationParameters(maxTokens: 12))
        #expect(result.tokens.count == 12)
        #expect(result.finishReason == .length)
        // Same ids from full re-runs without a cache.
        var ids = prompt
        for _ in 0..<12 {
            let logits = try gen.model.forward(ids).logits
            ids.append(logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) })
        }
        #expect(Array(ids.dropFirst(3)) == result.tokens)
        #expect(result.text == gen.tokenizer.decode(result.tokens))
    }

    @Test func stopStringsAndEndOfSequenceEndGeneration() throws {
        let gen = try Self.tinyGenerator()
        let free = try gen.generate(tokens: [1, 2, 3], parameters: GenerationParameters(maxTokens: 16))
        // Stop at the text of tokens 4...5: the returned text ends before it.
        // (Random bytes need not be valid UTF-8, so the stop text may first occur earlier.)
        let stop = gen.tokenizer.decode(Array(free.tokens[4..<6]))
        let upToStop = gen.tokenizer.decode(Array(free.tokens[0..<6]))
        let expected = String(upToStop[..<upToStop.range(of: stop)!.lowerBound])
        let stopped = try gen.generate(tokens: [1, 2, 3], parameters: GenerationParameters(maxTokens: 16, stop: [stop]))
        #expect(stopped.finishReason == .stop)
        #expect(stopped.text == expected)
        #expect(stopped.tokens == Array(free.tokens.prefix(stopped.tokens.count)))
        #expect(stopped.tokens.count <= 6)
        // EOS: the 3rd generated token declared end-of-sequence.
        let eosID = free.tokens[2]
        let firstEOS = free.tokens.firstIndex(of: eosID)!
        let withEOS = try Self.tinyGenerator(eos: [eosID])
        let ended = try withEOS.generate(tokens: [1, 2, 3], parameters: GenerationParameters(maxTokens: 16))
        #expect(ended.finishReason == .endOfSequence)
        #expect(ended.tokens == Array(free.tokens[..<firstEOS]))
    }

    @Test func seededSamplingRepeats() throws {
        let gen = try Self.tinyGenerator()
        let p = GenerationParameters(maxTokens: 10, sampling: SamplingParameters(temperature: 0.8, topP: 0.9, seed: 99))
        #expect(try gen.generate(tokens: [5, 6], parameters: p).tokens == gen.generate(tokens: [5, 6], parameters: p).tokens)
    }

    @Test func badPromptsThrowClearErrors() throws {
        let gen = try Self.tinyGenerator()
        #expect(throws: ModelsError.invalidInput("empty prompt")) {
            try gen.generate(prompt: "", parameters: GenerationParameters(maxTokens: 4))
        }
        #expect(throws: ModelsError.invalidInput("empty prompt")) {
            try gen.generate(tokens: [], parameters: GenerationParameters(maxTokens: 4))
        }
        // The tiny model's context is 128 positions.
        #expect(throws: ModelsError.sequenceTooLong(length: 200, maximum: 127)) {
            try gen.generate(tokens: [Int](repeating: 65, count: 200), parameters: GenerationParameters(maxTokens: 4))
        }
        // A run past the end of the context is refused up front, naming the limit,
        // rather than cut off when the context fills.
        #expect(throws: ModelsError.generationTooLong(promptTokens: 125, maxTokens: 10, context: 128)) {
            try gen.generate(tokens: [Int](repeating: 65, count: 125), parameters: GenerationParameters(maxTokens: 10))
        }
        #expect(ModelsError.generationTooLong(promptTokens: 125, maxTokens: 10, context: 128).description
            .contains("past the model's context of 128: ask for at most 3 tokens"))
        // Exactly filling the context is allowed.
        let full = try gen.generate(tokens: [Int](repeating: 65, count: 125), parameters: GenerationParameters(maxTokens: 3))
        #expect(full.tokens.count == 3 && full.finishReason == .length)
    }

    /// A KV cache bigger than the memory available is refused before it is allocated.
    @Test func cacheLargerThanMemoryIsRefused() throws {
        let gen = try Self.tinyGenerator()
        let bytes = gen.kvCacheBytes(positions: 50)
        let c = gen.model.configuration
        #expect(bytes == 2 * c.numHiddenLayers * 50 * c.numKeyValueHeads * c.headDim * 4)
        #expect(throws: ModelsError.cacheTooLarge(positions: 50, bytes: bytes, available: bytes - 1)) {
            try gen.checkCapacity(promptTokens: 10, maxTokens: 40, availableMemory: bytes - 1)
        }
        try gen.checkCapacity(promptTokens: 10, maxTokens: 40, availableMemory: bytes)
        #expect(throws: ModelsError.invalidInput("max tokens must be >= 0, got -1")) {
            try gen.checkCapacity(promptTokens: 10, maxTokens: -1, availableMemory: nil)
        }
        // The machine's own figure is known and positive here.
        #expect((SystemMemory.availableBytes() ?? 0) > 0)
        let message = ModelsError.cacheTooLarge(positions: 50, bytes: 3 << 30, available: 1 << 30).description
        #expect(message.contains("3.00 GiB") && message.contains("only 1.00 GiB"))
    }
}
