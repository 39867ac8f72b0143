import Foundation
import Testing
@testable import Tokenizers

/// Malformed or unsupported tokenizer.json files fail with errors naming the field.
struct TokenizerErrorTests {
    static let wordPieceModel = ###"{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, "##s": 4}}"###

    func load(_ json: String) throws -> Tokenizer {
        try Tokenizer(json: try TokenizerJSON.decode(Data(json.utf8), file: "tokenizer.json"))
    }

    @Test func unknownTokenInWordPieceConfig() {
        let json = #"{"model": {"type": "WordPiece", "unk_token": "[NOPE]", "vocab": {"a": 0}}}"#
        #expect(throws: TokenizerError.tokenNotInVocabulary(field: "model.unk_token", token: "[NOPE]")) { try load(json) }
    }

    @Test func unsupportedStageNamesItsField() {
        let json = #"{"pre_tokenizer": {"type": "Metaspace"}, "model": \#(Self.wordPieceModel)}"#
        #expect(throws: TokenizerError.unsupported(field: "pre_tokenizer.type", value: "Metaspace")) { try load(json) }
        let nested = #"{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Precompiled"}]}, "model": \#(Self.wordPieceModel)}"#
        #expect(throws: TokenizerError.unsupported(field: "normalizer.normalizers[1].type", value: "Precompiled")) { try load(nested) }
        let unigram = #"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#
        #expect(throws: TokenizerError.unsupported(field: "model.type", value: "Unigram")) { try load(unigram) }
    }

    @Test func wrongTypeNamesTheKeyPath() throws {
        let json = #"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": "zero"}}}"#
        do {
            _ = try load(json)
            Issue.record("expected an error")
        } catch let TokenizerError.invalidJSON(file, field, _) {
            #expect(file == "tokenizer.json")
            #expect(field == "model.vocab.[UNK]")
        }
        let missing = #"{"normalizer": null}"#
        #expect(throws: TokenizerError.invalidJSON(file: "tokenizer.json", field: "model", reason: "missing key")) { try load(missing) }
    }

    /// A fuzzed tokenizer.json (MiniLM's, one id set to 10^12) aborted the
    /// process allocating a 16 TB id table; it is an error naming the token now.
    @Test func farOutOfRangeIdsAreRefusedNotAllocated() throws {
        let big = #"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "grill": 1000000000000}}}"#
        #expect(throws: TokenizerError.invalidEntry(
            field: "model.vocab", index: 1_000_000_000_000,
            reason: "id of token 'grill' is far beyond the vocabulary's 2 tokens (at most 65536 ids may be unused)")) { try load(big) }
        let bpe = #"{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 70000}, "merges": []}}"#
        #expect(throws: TokenizerError.self) { try load(bpe) }
        // The same for an added token (MiniLM's [MASK] at 10^12 trapped converting ids for the encoder).
        let added = #"{"added_tokens": [{"id": 1000000000000, "content": "[MASK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}], "model": \#(Self.wordPieceModel)}"#
        #expect(throws: TokenizerError.invalidEntry(
            field: "added_tokens", index: 0,
            reason: "id 1000000000000 of '[MASK]' is far beyond the model's 5 tokens (at most 65536 ids may be unused)")) { try load(added) }
        // Holes within the limit stay accepted (ids a model never emits).
        let holes = #"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "hello": 60000}}}"#
        #expect(try load(holes).encode("hello").ids.contains(60000))
    }

    @Test func mergeWithOutOfVocabularyToken() {
        let json = #"{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}}"#
        #expect(throws: TokenizerError.tokenNotInVocabulary(field: "model.merges[1]", token: "c")) { try load(json) }
        let badMerge = #"{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}}"#
        do {
            _ = try load(badMerge)
            Issue.record("expected an error")
        } catch let TokenizerError.invalidJSON(_, field, _) {
            #expect(field == "model.merges[0]")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func templateNamingUnknownSpecialToken() {
        let json = #"{"model": \#(Self.wordPieceModel), "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}}"#
        #expect(throws: TokenizerError.tokenNotInVocabulary(field: "post_processor.special_tokens", token: "[CLS]")) { try load(json) }
    }

    @Test func notJSONAndMissingFile() {
        #expect(throws: TokenizerError.self) { try TokenizerJSON.decode(Data("not json".utf8), file: "tokenizer.json") }
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: URL(fileURLWithPath: "/nonexistent/tokenizer.json")) }
    }

    @Test func truncationThatCannotBeDone() throws {
        let tokenizer = try load(#"{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": \#(Self.wordPieceModel), "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}}"#)
        #expect(throws: TokenizerError.self) {
            try tokenizer.encode(pair: "hello hello hello hello", "hello", maxLength: 4, truncation: .onlySecond)
        }
        let e = try tokenizer.encode(pair: "hello hellos", "hello", maxLength: 5)
        #expect(e.ids == [1, 3, 2, 3, 2])
        #expect(e.tokenTypeIDs == [0, 0, 0, 1, 1])
    }
}
