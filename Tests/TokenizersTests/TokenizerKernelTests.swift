import Foundation
import Testing
@testable import Tokenizers

/// The hand-written fast paths agree with their plain references.
struct TokenizerKernelTests {
    static let maxUnicodeAgeForICU = 12
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The GPT-2 scanner against the same pattern run by NSRegularExpression.
    @Test func gpt2ScannerMatchesRegex() throws {
        let regex = try SplitPreTokenizer(pattern: .regex(Self.gpt2Pattern), behavior: .Isolated, invert: false)
        var samples = [
            "Hello world", "  two  spaces", "trailing   ", "\n\nnew\tlines\r\n", "don't it's we'll I'd they've",
            "'s 'S ''s", "x  = 1;  // comment", "123abc 4.5 ٣٤", "日本語 テキスト", "emoji 😀👍🏽 done", " ?!. ,",
            "a\u{00A0}b\u{3000}c", "",
        ]
        // The committed fixture's strings; a missing fixture is a failure, not a smaller test.
        let strings = try TokenizerFixtures.strings.get()
        // ICU's character tables lag Swift's; recently assigned characters
        // would test ICU's Unicode version, not the scanner.
        let current = strings.texts.filter { $0.unicodeScalars.allSatisfy { ($0.properties.age?.major ?? 99) <= Self.maxUnicodeAgeForICU } }
        #expect(current.count > strings.texts.count / 2, "most fixture strings should be testable")
        samples += current
        var mismatches = 0
        for s in samples {
            let scalars = Array(s.unicodeScalars)
            var fast: [Range<Int>] = []
            GPT2Scanner.scan(scalars, 0..<scalars.count, into: &fast)
            let reference = regex.split(scalars, pieces: [0..<scalars.count])
            if fast != reference {
                mismatches += 1
                if mismatches < 4 {
                    let show = { (r: [Range<Int>]) in r.map { String(String.UnicodeScalarView(scalars[$0])).debugDescription }.joined(separator: "|") }
                    print("scanner differs on \(s.debugDescription.prefix(80))\n fast: \(show(fast).prefix(600))\n regex: \(show(reference).prefix(600))")
                }
            }
        }
        print("GPT-2 scanner vs regex: \(samples.count) strings, \(mismatches) mismatches")
        #expect(mismatches == 0)
    }

    @Test func heapMergeMatchesReferenceMerge() throws {
        // A toy vocabulary where merge order matters.
        let vocab = ["a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "aa": 6, "aaa": 7, "ca": 8]
        let merges = [BPEMerge(left: "b", right: "c"), BPEMerge(left: "a", right: "b"), BPEMerge(left: "a", right: "a"),
                      BPEMerge(left: "a", right: "bc"), BPEMerge(left: "aa", right: "a"), BPEMerge(left: "c", right: "a")]
        var table: [UInt64: ByteLevelBPEModel.Merge] = [:]
        for (rank, m) in merges.enumerated() {
            table[UInt64(vocab[m.left]!) << 32 | UInt64(vocab[m.right]!)] = .init(rank: Int32(rank), id: Int32(vocab[m.left + m.right]!))
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let word = (0..<Int.random(in: 1...24, using: &rng)).map { _ in Int.random(in: 0...2, using: &rng) }
            #expect(BPEMerging.mergeWithHeap(word, table) == BPEMerging.mergeReference(word, table), "word \(word)")
        }
    }

    @Test func byteLevelAlphabetIsABijection() {
        let table = ByteLevelAlphabet.scalarForByte
        #expect(Set(table).count == 256)
        #expect(table[0x20] == "\u{0120}")  // Ġ
        #expect(table[0x0A] == "\u{010A}")  // Ċ
        #expect(table[Int(UInt8(ascii: "a"))] == "a")
        let all = (0...255).map { UInt8($0) }
        #expect(ByteLevelAlphabet.bytes(of: ByteLevelAlphabet.string(of: all)) == all)
    }

    @Test func unicodeRangeLookup() {
        let table: [UInt32] = [0x10, 0x20, 0x30, 0x30, 0x100, 0x1FF]
        for v: UInt32 in [0x10, 0x15, 0x20, 0x30, 0x100, 0x1FF] { #expect(UnicodeRanges.contains(table, v)) }
        for v: UInt32 in [0, 0xF, 0x21, 0x2F, 0x31, 0xFF, 0x200] { #expect(!UnicodeRanges.contains(table, v)) }
    }

    /// HF `tokenizers` longest_first on pairs of known lengths, from
    /// Tests/TokenizersTests/Fixtures/longest_first_truncation.json
    /// (Scripts/fixtures/make_truncation_fixture.py).
    @Test func longestFirstTruncationAsHF() throws {
        struct Case: Decodable { var n1, n2, max, kept1, kept2: Int }
        let cases = try TokenizerFixtures.load([Case].self, "longest_first_truncation.json")
        #expect(cases.count >= 20)
        for c in cases {
            var a = Array(0..<c.n1), b = Array(0..<c.n2)
            try Tokenizer.truncate(&a, &b, to: c.max, strategy: .longestFirst)
            #expect(a.count == c.kept1 && b.count == c.kept2, "(\(c.n1), \(c.n2)) to \(c.max): (\(a.count), \(b.count)), HF (\(c.kept1), \(c.kept2))")
            // Truncation keeps the beginning of each side.
            #expect(a == Array(0..<c.kept1) && b == Array(0..<c.kept2))
        }
    }
}
