import Foundation
import Grammar
import Models
import Testing
import Tokenizers
import TestSupport

/// SmolLM2's real vocabulary (byte-level BPE, 49,152 tokens, with multi-byte
/// and partial-UTF-8 tokens) under a JSON schema, driven by random logits
/// (no forward passes, so a debug build stays fast): the first mask equals
/// a brute-force check of every token, and the output parses and validates.
@Suite struct SmolLM2ConstrainedTests {
    static let schema = #"{"type": "object", "properties": {"label": {"enum": ["true", "false"]}, "score": {"type": "integer"}, "note": {"type": "string", "maxLength": 8}}, "required": ["label", "score", "note"], "additionalProperties": false}"#
    static let steps = 80

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func smolLM2VocabularyYieldsValidJSONUnderASchema() throws {
        let tokenizer = try Tokenizer(gguf: Assets.smollm2GGUF)
        let tokens = tokenizer.grammarTokenBytes(vocabularySize: tokenizer.vocabularySize)
        let eos = tokenizer.tokenID(for: "<|im_end|>")!
        #expect(tokens[eos] == nil)
        let grammar = try JSONSchemaGrammar.grammar(schema: Self.schema)
        let constraint = TokenConstraint(grammar: grammar, trie: TokenTrie(tokens: tokens), tokens: tokens, endOfSequenceIDs: [eos])
        // Brute force at the start: exactly the tokens whose bytes keep a valid prefix.
        let matcher = GrammarMatcher(grammar)
        for (id, bytes) in tokens.enumerated() {
            let expected = bytes.map { matcher.next(matcher.initialState, bytes: $0) >= 0 } ?? false
            if constraint.isAllowed(id) != expected { Issue.record("token \(id) \(tokenizer.token(for: id) ?? "")") }
        }
        var rng = SeededGenerator(seed: 11)
        var output: [UInt8] = []
        for _ in 0..<Self.steps where !constraint.isComplete {
            var logits = (0..<tokens.count).map { id -> Float in
                // Favour closing quotes and braces so the random walk ends.
                let closes = tokens[id]?.contains { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "}") } ?? false
                return Float(rng.nextUnit()) + (closes ? 2 : 0)
            }
            try constraint.mask(&logits)
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            if next == eos { break }
            #expect(constraint.accept(next))
            output += tokens[next]!
        }
        let text = String(decoding: output, as: UTF8.self)
        #expect(constraint.isAccepting, "\(text)")
        let value = try JSONValue(parsing: text)
        let parsed = try JSONValue(parsing: Self.schema)
        #expect(SchemaValidator(root: parsed).errors(value, parsed) == nil, "\(text)")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(text)")
    }
}
