import Foundation
import ModelFormats
import Testing
import TestSupport
import Tokenizers
@testable import Models

/// Gemma 3's SentencePiece vocabulary (GGUF `tokenizer.ggml.model = "llama"`),
/// loaded by `Tokenizer(gguf:)` as model loading does, against the ids
/// transformers gives loading the same GGUF (Scripts/fixtures/make_gemma3_tokenizer_fixture.py):
/// 2,000 seeded strings (unicode, whitespace runs, control characters, code)
/// plus Gemma-specific texts.
@Suite(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
struct SentencePieceGGUFTests {
    struct Fixture: Decodable {
        var n_strings: Int
        var extra_texts: [String]
        var ids: [[Int]]
    }

    static func load() throws -> (texts: [String], ids: [[Int]]) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf:
            Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("gemma3_ids.json")))
        struct Strings: Decodable { var texts: [String] }
        let strings = try JSONDecoder().decode(Strings.self, from: Data(contentsOf:
            Assets.repoRoot.appendingPathComponent("Tests/TokenizersTests/Fixtures/tokenizer_strings.json")))
        return (Array(strings.texts.prefix(fixture.n_strings)) + fixture.extra_texts, fixture.ids)
    }

    /// Where transformers and llama.cpp disagree we follow llama.cpp (this
    /// engine runs llama.cpp's GGUFs), with its ids worked out from its
    /// algorithm: user-defined pieces are cut out of the raw text longest
    /// first, then the SPM merges run on the rest.
    /// - 64 spaces: Gemma's whitespace-run pieces (2 to 31 raw spaces) give
    ///   31 + 31 + 2; transformers merges them as BPE pieces and stops at the
    ///   16-space one (llama.cpp PR #8228 notes this HF quirk and that
    ///   SentencePiece itself agrees with llama.cpp).
    /// - A literal `▁` in the input: transformers lets it join the escaped
    ///   spaces into a whitespace-run piece; llama.cpp matches those pieces
    ///   against raw spaces only, so `▁` stays a piece of its own.
    static let llamaCppIDs: [String: [Int]] = [
        String(repeating: " ", count: 64) + "x": [2, 167, 167, 138, 236781],
        "▁ already a meta symbol ▁▁": [2, 236743, 3016, 496, 18102, 5404, 236743, 236743, 236743],
    ]

    @Test func idsMatchTransformersOnTheSameGGUF() throws {
        let (texts, expected) = try Self.load()
        #expect(texts.count == expected.count && texts.count >= 2000)
        let tokenizer = try Tokenizer(gguf: Assets.gemma3GGUF)
        #expect(tokenizer.model is SentencePieceModel && tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.specialTokens.bos == 2 && tokenizer.specialTokens.eos == 1)
        var mismatches = 0, examples: [String] = []
        var overridden = 0
        for (text, ids) in zip(texts, expected) {
            let want = Self.llamaCppIDs[text] ?? ids
            if Self.llamaCppIDs[text] != nil {
                overridden += 1
                #expect(ids != want, "transformers now agrees with llama.cpp on \(text.debugDescription): drop the override")
            }
            let got = tokenizer.encode(text).ids
            guard got != want else { continue }
            mismatches += 1
            if examples.count < 5 { examples.append("\(text.debugDescription.prefix(60)): expected \(want.prefix(12)) got \(got.prefix(12))") }
        }
        #expect(overridden == Self.llamaCppIDs.count)
        print("Gemma 3 SentencePiece: \(texts.count) texts, \(mismatches) mismatches (\(overridden) follow llama.cpp over transformers)")
        #expect(mismatches == 0, "\(examples.joined(separator: "\n"))")
    }

    @Test func decodeRoundTripsEveryTextWithoutControlTokens() throws {
        let (texts, _) = try Self.load()
        let tokenizer = try Tokenizer(gguf: Assets.gemma3GGUF)
        var failures: [String] = []
        // Texts with a control token in them decode it back as its text, or drop it when
        // skipping; a literal `▁` decodes as the space it stands for.
        for text in texts where !["<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", "<unused", "▁"].contains(where: text.contains) {
            let ids = tokenizer.encode(text).ids
            if tokenizer.decode(ids, skipSpecialTokens: true) != text { failures.append(text.debugDescription) }
        }
        #expect(failures.isEmpty, "\(failures.count) fail, e.g. \(failures.prefix(3))")
        let chat = "<start_of_turn>user\nhi<end_of_turn>"
        #expect(tokenizer.decode(tokenizer.encode(chat).ids) == "<bos>" + chat)
    }
}
