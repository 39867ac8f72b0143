import Foundation
import Testing
@testable import Tokenizers

/// SmolLM2 (byte-level BPE) against HF: the tokenizer transformers builds from
/// the shipped GGUF, saved as a fixture, id for id; the digit-splitting and
/// Qwen2-regex pre-tokenizers over the same vocabulary; decode round trips.
struct ByteLevelBPEParityTests {
    static let allowedMismatches = 0

    static func fixtures() throws -> (TokenizerFixtures.Strings, TokenizerFixtures.SmolLM2IDs, Tokenizer) {
        let strings = try TokenizerFixtures.strings.get()
        let ids = try TokenizerFixtures.smollm2IDs.get()
        let tokenizer = try TokenizerFixtures.smollm2.get()
        return (strings, ids, tokenizer)
    }

    /// The same vocabulary and merges as GGUF metadata would carry them.
    static func ggufParts(_ json: TokenizerJSON) -> (tokens: [String], merges: [String], types: [Int32]) {
        var tokens = [String](repeating: "", count: json.model.vocab.count)
        for (t, i) in json.model.vocab { tokens[i] = t }
        var types = [Int32](repeating: 1, count: tokens.count)
        for t in json.addedTokens where t.special { types[t.id] = 3 }
        return (tokens, json.model.merges.map { "\($0.left) \($0.right)" }, types)
    }

    @Test func idsMatchTransformersGGUFTokenizer() throws {
        let (strings, expected, tokenizer) = try Self.fixtures()
        #expect(strings.texts.count >= 5000)
        var report = MismatchReport()
        for (i, text) in strings.texts.enumerated() {
            report.check("text \(i) \(text.debugDescription.prefix(60))", expected: expected.ids[i], actual: tokenizer.encode(text).ids)
        }
        print("SmolLM2: \(strings.texts.count) texts, \(report.summary)")
        #expect(report.count <= Self.allowedMismatches, "\(report.summary)")
    }

    @Test func ggufPartsMatchBothPreTokenizers() throws {
        let (strings, expected, _) = try Self.fixtures()
        let json = try TokenizerFixtures.smollm2Config.get()
        let parts = Self.ggufParts(json)
        let gpt2 = try Tokenizer(ggufTokens: parts.tokens, merges: parts.merges, tokenTypes: parts.types, pre: "gpt2",
                                 bosTokenID: 1, eosTokenID: 2, unknownTokenID: 0, paddingTokenID: 2)
        let smollm = try Tokenizer(ggufTokens: parts.tokens, merges: parts.merges, tokenTypes: parts.types, pre: "smollm",
                                   bosTokenID: 1, eosTokenID: 2, unknownTokenID: 0, paddingTokenID: 2)
        #expect(smollm.specialTokens.bos == 1 && smollm.specialTokens.eos == 2)
        #expect(smollm.tokenID(for: "<|im_start|>") == 1 && smollm.isSpecial(2))
        var plain = MismatchReport()
        var digits = MismatchReport()
        for (i, text) in strings.texts.enumerated() {
            plain.check("gpt2 pre, text \(i)", expected: expected.ids[i], actual: gpt2.encode(text).ids)
            digits.check("smollm pre, text \(i)", expected: expected.digits_ids[String(i)] ?? expected.ids[i], actual: smollm.encode(text).ids)
        }
        print("SmolLM2 from GGUF parts: pre=gpt2 \(plain.summary); pre=smollm (\(expected.digits_ids.count) texts differ from gpt2) \(digits.summary)")
        #expect(plain.count <= Self.allowedMismatches, "\(plain.summary)")
        #expect(digits.count <= Self.allowedMismatches, "\(digits.summary)")
    }

    @Test func splitRegexPreTokenizerMatchesHF() throws {
        let (strings, expected, _) = try Self.fixtures()
        let json = try TokenizerFixtures.smollm2Config.get()
        let parts = Self.ggufParts(json)
        let qwen2 = try Tokenizer(ggufTokens: parts.tokens, merges: parts.merges, tokenTypes: parts.types, pre: "qwen2")
        var report = MismatchReport()
        for (i, ids) in expected.qwen2_pre_ids.enumerated() {
            report.check("qwen2 pre, text \(i) \(strings.texts[i].debugDescription.prefix(60))", expected: ids, actual: qwen2.encode(strings.texts[i]).ids)
        }
        print("Qwen2 Split regex over SmolLM2 vocabulary: \(expected.qwen2_pre_ids.count) texts, \(report.summary)")
        #expect(report.count <= Self.allowedMismatches, "\(report.summary)")
    }

    @Test func decodeRoundTrips() throws {
        let (strings, _, tokenizer) = try Self.fixtures()
        var failures = 0
        for text in strings.texts where tokenizer.decode(tokenizer.encode(text).ids) != text {
            failures += 1
            if failures <= 3 { print("round trip fails for \(text.debugDescription.prefix(80))") }
        }
        print("SmolLM2 round trip: \(strings.texts.count) texts, \(failures) failures")
        #expect(failures == 0)
    }

    @Test func specialTokensStayWholeAndCanBeSkipped() throws {
        let (_, _, tokenizer) = try Self.fixtures()
        let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n").ids
        #expect(ids.first == 1)
        #expect(ids.contains(2))
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nHi\n")
        #expect(tokenizer.token(for: 0) == "<|endoftext|>")
    }

    @Test func malformedGGUFPartsAreRejected() {
        #expect(throws: TokenizerError.unsupported(field: "tokenizer.ggml.pre", value: "mystery")) {
            try Tokenizer(ggufTokens: ["a"], merges: [], tokenTypes: [1], pre: "mystery")
        }
        #expect(throws: TokenizerError.tokenNotInVocabulary(field: "tokenizer.ggml.merges[0]", token: "ab")) {
            try Tokenizer(ggufTokens: ["a", "b"], merges: ["a b"], tokenTypes: [1, 1], pre: "gpt2")
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(ggufTokens: ["a", "b"], merges: ["ab"], tokenTypes: [1, 1], pre: "gpt2")
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(ggufTokens: ["a", "b"], merges: [], tokenTypes: [1], pre: "gpt2")
        }
    }
}
