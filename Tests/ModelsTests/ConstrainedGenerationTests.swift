import Foundation
import Grammar
import Testing
import Tensor
import Tokenizers
@testable import Models

/// The generation loop under a grammar, on the tiny Qwen2 fixture with its
/// 256-token byte-level vocabulary (token i is byte i): each greedy step must
/// be the argmax of the logits over the tokens a brute-force check allows.
@Suite struct ConstrainedGenerationTests {
    static let grammar = #"root ::= "{\"n\": " ("0" | [1-9] [0-9]{0,2}) ", \"w\": \"" [a-z]{1,4} "\"}""#

    @Test func greedyStepsAreTheArgmaxOverAllowedTokens() throws {
        let generator = try GenerationTests.tinyGenerator()
        let grammar = try Grammar(gbnf: Self.grammar)
        let prompt = [1, 2, 3]
        let result = try generator.generate(tokens: prompt, parameters: GenerationParameters(maxTokens: 40, grammar: grammar))
        #expect(result.finishReason == .endOfSequence)
        #expect(GrammarMatcher(grammar).matches(result.text), "\(result.text.debugDescription)")
        // Replay: the same model run, masked by an independent matcher walk per token.
        let matcher = GrammarMatcher(grammar)
        var state = matcher.initialState
        var cache = generator.model.makeCache(capacity: prompt.count + result.tokens.count)
        var logits = try generator.model.prefill(prompt, cache: &cache)
        for token in result.tokens {
            var best = -1
            for id in 0..<256 where matcher.next(state, UInt8(id)) >= 0 && (best < 0 || logits[id] > logits[best]) { best = id }
            #expect(token == best)
            state = matcher.next(state, UInt8(token))
            logits = try generator.model.forward([token], cache: &cache, logits: .last).logits
        }
        #expect(matcher.isComplete(state))
        // The unconstrained model does not write this on its own.
        let free = try generator.generate(tokens: prompt, parameters: GenerationParameters(maxTokens: 20))
        #expect(!GrammarMatcher(grammar).matches(free.text))
    }

    @Test func sampledOutputsMatchAndMaxTokensReportsLength() throws {
        let generator = try GenerationTests.tinyGenerator()
        let grammar = try Grammar(gbnf: Self.grammar)
        let constraint = generator.makeConstraint(for: grammar)
        for seed: UInt64 in 1...5 {
            let parameters = GenerationParameters(maxTokens: 40, sampling: SamplingParameters(temperature: 1.5, seed: seed), grammar: grammar)
            let result = try generator.generate(tokens: [5, 6], parameters: parameters, constraint: constraint)
            #expect(result.finishReason == .endOfSequence)
            #expect(GrammarMatcher(grammar).matches(result.text), "seed \(seed): \(result.text.debugDescription)")
        }
        let cut = try generator.generate(tokens: [5, 6], parameters: GenerationParameters(maxTokens: 3, grammar: grammar))
        #expect(cut.finishReason == .length)
        #expect(cut.text == "{\"n")
    }

    @Test func endOfSequenceIsAllowedOnlyWhereTheGrammarAccepts() throws {
        // Token 10 ("\n") is the end token; the grammar accepts "a" or "ab".
        let generator = try GenerationTests.tinyGenerator(eos: [10])
        let grammar = try Grammar(gbnf: #"root ::= "a" "b"?"#)
        let constraint = generator.makeConstraint(for: grammar)
        #expect(!constraint.isAllowed(10))
        #expect(constraint.accept(Int(UInt8(ascii: "a"))))
        #expect(constraint.isAllowed(10) && constraint.isAllowed(Int(UInt8(ascii: "b"))))
        #expect(!constraint.isAllowed(Int(UInt8(ascii: "a"))))
        let result = try generator.generate(tokens: [1], parameters: GenerationParameters(maxTokens: 5, grammar: grammar))
        #expect(["a", "ab"].contains(result.text))
        #expect(result.finishReason == .endOfSequence)
    }
}
