import Foundation
import Testing
@testable import Tokenizers

/// A hand-made SentencePiece vocabulary, small enough to work every expected
/// id out by hand with llama.cpp's SPM rules (see `SentencePieceModel`).
struct SentencePieceTests {
    // ids: 0 <unk> (unknown), 1 <s> (control), 2 </s> (control), 3 <tab> (user-defined),
    // 4..259 <0x00>..<0xFF> (byte), then normal pieces with scores.
    static let pieces: [(String, Float)] = [
        ("▁", -1), ("a", -2), ("b", -2), ("c", -2), ("ab", -3), ("bc", -1), ("abc", -4),
        ("▁a", -5), ("aa", -2), ("x", -2), ("y", -2), ("xy", -9), ("e", -2), ("\u{301}", -2), ("e\u{301}", -1),
    ]
    static func id(_ piece: String) -> Int { 260 + pieces.firstIndex { $0.0 == piece }! }

    static func make(addSpacePrefix: Bool, addBOS: Bool = true, addEOS: Bool = false, dropping: String? = nil) throws -> Tokenizer {
        var tokens = ["<unk>", "<s>", "</s>", "<tab>"]
        var types: [Int32] = [2, 3, 3, 4]
        for b in 0..<256 {
            tokens.append("<0x" + String(UInt8(b), radix: 16, uppercase: true).leftPadded(to: 2) + ">")
            types.append(6)
        }
        var scores = [Float](repeating: 0, count: tokens.count)
        for (p, s) in pieces {
            // A dropped piece keeps its id slot (so ids stay put) under a text nothing produces.
            tokens.append(p == dropping ? "\u{E000}unused" : p)
            scores.append(s)
            types.append(1)
        }
        return try Tokenizer(ggufSentencePieceTokens: tokens, scores: scores, tokenTypes: types, addSpacePrefix: addSpacePrefix,
                             addBOS: addBOS, addEOS: addEOS, bosTokenID: 1, eosTokenID: 2, unknownTokenID: 0)
    }

    @Test func highestScoreMergesFirstThenLeftmost() throws {
        let t = try Self.make(addSpacePrefix: false)
        // "bc" (-1) beats "ab" (-3), then "a"+"bc" forms "abc".
        #expect(t.tokenize("abc") == [Self.id("abc")])
        // Without "abc" the pair a|bc stays apart: not the left-to-right "ab", "c".
        let noABC = try Self.make(addSpacePrefix: false, dropping: "abc")
        #expect(noABC.tokenize("abc") == [Self.id("a"), Self.id("bc")])
        // Equal scores: the leftmost pair merges first.
        #expect(t.tokenize("aaa") == [Self.id("aa"), Self.id("a")])
        // "xy" has a low score but is the only candidate: it still merges.
        #expect(t.tokenize("xyx") == [Self.id("xy"), Self.id("x")])
    }

    @Test func spacesBecomeMetaSymbolAndPrefixFollowsMetadata() throws {
        let plain = try Self.make(addSpacePrefix: false)
        #expect(plain.tokenize("a b") == [Self.id("a"), Self.id("▁"), Self.id("b")])
        #expect(plain.tokenize(" a") == [Self.id("▁a")])
        #expect(plain.tokenize("a") == [Self.id("a")])
        let prefixed = try Self.make(addSpacePrefix: true)
        #expect(prefixed.tokenize("a") == [Self.id("▁a")])
        // The prefix goes on a fragment that follows an added token, not on later text.
        #expect(prefixed.tokenize("a<tab>a") == [Self.id("▁a"), 3, Self.id("▁a")])
        #expect(plain.tokenize("a<tab>a") == [Self.id("a"), 3, Self.id("a")])
        #expect(prefixed.tokenize("") == [])
    }

    @Test func byteFallbackAndAddedTokens() throws {
        let t = try Self.make(addSpacePrefix: false)
        // "é" is not a piece: its UTF-8 bytes C3 A9 through the byte tokens.
        #expect(t.tokenize("aé") == [Self.id("a"), 4 + 0xC3, 4 + 0xA9])
        #expect(t.tokenize("\n") == [4 + 0x0A])
        // Pieces are bytes, not canonically-equivalent Strings: the decomposed
        // "e" + U+0301 is a piece, the precomposed U+00E9 is not.
        #expect(t.tokenize("e\u{301}") == [Self.id("e\u{301}")])
        #expect(t.tokenize("\u{E9}") == [4 + 0xC3, 4 + 0xA9])
        #expect(t.tokenID(for: "\u{E9}") == nil && t.tokenID(for: "e\u{301}") == Self.id("e\u{301}"))
        // Control and user-defined tokens are cut out before merging.
        #expect(t.tokenize("<s>ab</s>") == [1, Self.id("ab"), 2])
        #expect(t.isSpecial(1) && !t.isSpecial(3))
    }

    @Test func bosAndEosAsTheMetadataSays() throws {
        let t = try Self.make(addSpacePrefix: false)
        #expect(t.encode("ab").ids == [1, Self.id("ab")])
        #expect(t.encode("ab", addSpecialTokens: false).ids == [Self.id("ab")])
        #expect(t.encode("").ids == [1])
        let both = try Self.make(addSpacePrefix: false, addBOS: true, addEOS: true)
        #expect(both.encode("ab").ids == [1, Self.id("ab"), 2])
        let neither = try Self.make(addSpacePrefix: false, addBOS: false)
        #expect(neither.encode("ab").ids == [Self.id("ab")])
        #expect(throws: TokenizerError.invalidEntry(field: "tokenizer.ggml.add_bos_token", index: 0,
                                                   reason: "is true but tokenizer.ggml.bos_token_id is missing")) {
            try Tokenizer(ggufSentencePieceTokens: ["a"], scores: [0], tokenTypes: [1], addSpacePrefix: false, addBOS: true, addEOS: false)
        }
        #expect(throws: TokenizerError.invalidEntry(field: "tokenizer.ggml.scores", index: 1, reason: "1 scores for 2 tokens")) {
            try Tokenizer(ggufSentencePieceTokens: ["a", "b"], scores: [0], tokenTypes: [], addSpacePrefix: false, addBOS: false, addEOS: false)
        }
    }

    @Test func decodeUndoesMetaSymbolBytesAndPrefix() throws {
        let plain = try Self.make(addSpacePrefix: false)
        for text in ["a b", " abc  aé\n", "xy<tab>é", "é€😀"] {
            #expect(plain.decode(plain.encode(text, addSpecialTokens: false).ids) == text, "\(text.debugDescription)")
        }
        #expect(plain.decode(plain.encode("ab").ids) == "<s>ab")
        #expect(plain.decode(plain.encode("ab").ids, skipSpecialTokens: true) == "ab")
        // A lone continuation byte decodes to U+FFFD rather than vanishing.
        #expect(plain.decode([4 + 0xA9]) == "\u{FFFD}")
        let prefixed = try Self.make(addSpacePrefix: true)
        #expect(prefixed.decode(prefixed.encode("a b", addSpecialTokens: false).ids) == "a b")
    }
}
