import Foundation
import Testing
import TestSupport
@testable import Tokenizers

/// all-MiniLM-L6-v2 (WordPiece) against HF `tokenizers`, id for id.
@Suite(.enabled(if: Assets.enabled(Assets.minilm)))
struct WordPieceParityTests {
    static let allowedMismatches = 0

    @Test func singleSequencesMatchHF() throws {
        let strings = try TokenizerFixtures.strings.get()
        let expected = try TokenizerFixtures.minilmIDs.get()
        let tokenizer = try TokenizerFixtures.minilm.get()
        #expect(strings.texts.count >= 5000)
        var report = MismatchReport()
        for (i, text) in strings.texts.enumerated() {
            let e = tokenizer.encode(text)
            report.check("text \(i) \(text.debugDescription.prefix(60))", expected: expected.single[i], actual: e.ids)
            #expect(e.attentionMask.allSatisfy { $0 == 1 } && e.tokenTypeIDs.allSatisfy { $0 == 0 })
        }
        print("MiniLM single: \(strings.texts.count) texts, \(report.summary)")
        #expect(report.count <= Self.allowedMismatches, "\(report.summary)")
    }

    @Test func vocabTXTMatchesTokenizerJSON() throws {
        let strings = try TokenizerFixtures.strings.get()
        let expected = try TokenizerFixtures.minilmIDs.get()
        let tokenizer = try Tokenizer(vocabTXT: Assets.minilm.appendingPathComponent("vocab.txt"), doLowerCase: true)
        var report = MismatchReport()
        for (i, text) in strings.texts.enumerated() {
            report.check("text \(i)", expected: expected.single[i], actual: tokenizer.encode(text).ids)
        }
        print("MiniLM from vocab.txt: \(strings.texts.count) texts, \(report.summary)")
        #expect(report.count <= Self.allowedMismatches, "\(report.summary)")
    }

    @Test func pairsWithTruncationMatchHF() throws {
        let strings = try TokenizerFixtures.strings.get()
        let expected = try TokenizerFixtures.minilmIDs.get()
        let tokenizer = try TokenizerFixtures.minilm.get()
        var report = MismatchReport()
        var refusals = 0
        for (i, pair) in strings.pairs.enumerated() {
            let strategy: TruncationStrategy = switch pair.strategy {
            case "only_first": .onlyFirst
            case "only_second": .onlySecond
            default: .longestFirst
            }
            let reference = expected.pairs[i]
            if reference.error != nil {
                refusals += 1
                #expect(throws: TokenizerError.self) {
                    try tokenizer.encode(pair: pair.a, pair.b, maxLength: pair.max_length, truncation: strategy)
                }
                continue
            }
            let e = try tokenizer.encode(pair: pair.a, pair.b, maxLength: pair.max_length, truncation: strategy)
            report.check("pair \(i) ids", expected: reference.ids ?? [], actual: e.ids)
            report.check("pair \(i) type ids", expected: reference.type_ids ?? [], actual: e.tokenTypeIDs)
            #expect(e.count <= pair.max_length)
        }
        print("MiniLM pairs: \(strings.pairs.count) pairs (\(refusals) refused by both), \(report.summary)")
        #expect(report.count <= Self.allowedMismatches, "\(report.summary)")
    }

    @Test func decodeMatchesHF() throws {
        let expected = try TokenizerFixtures.minilmIDs.get()
        let tokenizer = try TokenizerFixtures.minilm.get()
        var mismatches = 0
        for (i, text) in expected.decoded.enumerated() {
            let decoded = tokenizer.decode(expected.single[i], skipSpecialTokens: true)
            if decoded != text {
                mismatches += 1
                if mismatches <= 3 {
                    let a = Array(text.unicodeScalars), b = Array(decoded.unicodeScalars)
                    let at = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                    let show = { (x: [Unicode.Scalar]) in String(String.UnicodeScalarView(x[max(0, at - 20)..<min(x.count, at + 20)])).debugDescription }
                    print("decode \(i) differs at scalar \(at): expected \(show(a)) got \(show(b))")
                }
            }
        }
        print("MiniLM decode: \(expected.decoded.count) texts, \(mismatches) mismatches")
        #expect(mismatches == 0)
    }

    @Test func specialTokensAndBatchPadding() throws {
        let tokenizer = try Tokenizer(directory: Assets.minilm)
        #expect(tokenizer.specialTokens.cls == 101 && tokenizer.specialTokens.sep == 102)
        #expect(tokenizer.specialTokens.pad == 0 && tokenizer.specialTokens.unk == 100 && tokenizer.specialTokens.mask == 103)
        #expect(tokenizer.tokenID(for: "[CLS]") == 101)
        let batch = tokenizer.encode(batch: ["short", "a somewhat longer sentence here", "mid length"], padding: .longest)
        let longest = batch.map { $0.attentionMask.reduce(0, +) }.max() ?? 0
        for e in batch {
            #expect(e.count == longest)
            let real = e.attentionMask.reduce(0, +)
            #expect(e.ids[real...].allSatisfy { $0 == 0 })
            #expect(e.ids[real - 1] == 102)
        }
        let fixed = tokenizer.encode(batch: ["one", "two"], padding: .fixed(16))
        #expect(fixed.allSatisfy { $0.count == 16 })
    }
}
