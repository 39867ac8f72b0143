import Foundation
import Testing
@testable import Retrieval

@Suite struct PorterStemmerTests {
    /// Every distinct token of the Cranfield files, stemmed by the reference
    /// (NLTK PorterStemmer, MARTIN_EXTENSIONS = Lucene's PorterStemmer);
    /// made by Scripts/fixtures/make_bm25_porter_fixture.py.
    @Test func matchesReferenceOnCranfieldVocabulary() throws {
        let rows = try Fixture.tsv("porter_cranfield.tsv")
        #expect(rows.count > 10_000)
        var mismatches: [String] = []
        for row in rows {
            try #require(row.count == 3, "bad fixture row \(row)")
            let got = PorterStemmer.stem(String(row[0]))
            if got != row[1] { mismatches.append("\(row[0]): got \(got), want \(row[1])") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(10))")
    }

    /// PyStemmer's "porter" follows the 1980 paper; Lucene (and we) follow
    /// Porter's reference code. Every difference must be one of the three
    /// documented departures, nothing else.
    @Test func differsFromThePaperOnlyWhereLuceneDoes() throws {
        let rows = try Fixture.tsv("porter_cranfield.tsv")
        var unexplained: [String] = []
        var explained = 0
        for row in rows where row[1] != row[2] {
            let word = String(row[0])
            let short = word.count <= 2
            let bli = word.hasSuffix("bly") || word.hasSuffix("bli") || word.hasSuffix("blies")
            let logi = word.contains("log")
            if short || bli || logi { explained += 1 } else { unexplained.append(word) }
        }
        #expect(explained > 0)
        #expect(unexplained.isEmpty, "\(unexplained)")
    }

    @Test func classicExamples() {
        let cases = [
            ("caresses", "caress"), ("ponies", "poni"), ("ties", "ti"), ("caress", "caress"), ("cats", "cat"),
            ("feed", "feed"), ("agreed", "agre"), ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"),
            ("conflated", "conflat"), ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"), ("falling", "fall"),
            ("filing", "file"), ("happy", "happi"), ("relational", "relat"), ("conditional", "condit"),
            ("generalization", "gener"), ("electricity", "electr"), ("hopefulness", "hope"), ("adjustment", "adjust"),
            ("as", "as"), ("is", "is"), ("possibly", "possibl"), ("technology", "technolog"),
        ]
        for (word, stem) in cases { #expect(PorterStemmer.stem(word) == stem, "\(word)") }
    }
}

@Suite struct StandardTokenizerTests {
    let tokenizer = StandardTokenizer()

    @Test func englishWordBoundaries() {
        // Same string as the Python replica's self-check (bm25_reference.tokenize).
        #expect(tokenizer.tokens("U.S.A. o'neil's 3.5 1,000 e.g. foo-bar a_b ___ x:y b747 end.")
            == ["U.S.A", "o'neil's", "3.5", "1,000", "e.g", "foo", "bar", "a_b", "x:y", "b747", "end"])
        #expect(tokenizer.tokens("  ") == [])
        #expect(tokenizer.tokens("(mach 2.5-3.0), i.e. x/y") == ["mach", "2.5", "3.0", "i.e", "x", "y"])
        #expect(tokenizer.tokens("a.b.") == ["a.b"])
        #expect(tokenizer.tokens("3.a") == ["3", "a"])
    }

    @Test func unicodeText() {
        #expect(tokenizer.tokens("café naïve Ångström") == ["café", "naïve", "Ångström"])
        #expect(tokenizer.tokens("John’s") == ["John’s"])
        // Soft hyphen is a format character: it stays inside the word.
        #expect(tokenizer.tokens("co\u{00AD}operate") == ["co\u{00AD}operate"])
        // Combining accent attaches to its letter.
        #expect(tokenizer.tokens("cafe\u{0301} bar") == ["cafe\u{0301}", "bar"])
        #expect(tokenizer.tokens("日本語テキスト") == ["日", "本", "語", "テキスト"])
        #expect(tokenizer.tokens("ひらがな") == ["ひ", "ら", "が", "な"])
        #expect(tokenizer.tokens("I ❤️ 🍕!") == ["I", "❤️", "🍕"])
        #expect(tokenizer.tokens("👍🏽 ok") == ["👍🏽", "ok"])
        #expect(tokenizer.tokens("👨‍👩‍👧") == ["👨‍👩‍👧"])
        #expect(tokenizer.tokens("🇫🇷🇩🇪") == ["🇫🇷", "🇩🇪"])
        #expect(tokenizer.tokens("٣٤٥ abc") == ["٣٤٥", "abc"])
    }

    @Test func longTokensAreCut() {
        let word = String(repeating: "a", count: 300)
        let tokens = tokenizer.tokens(word + " b")
        #expect(tokens.map(\.count) == [255, 45, 1])
        #expect(StandardTokenizer(maxTokenLength: 4).tokens("abcdefghij") == ["abcd", "efgh", "ij"])
    }
}

@Suite struct EnglishAnalyzerTests {
    let analyzer = EnglishAnalyzer()

    @Test func fullChain() {
        // Same expected terms as bm25_reference.analyze gives.
        #expect(analyzer.terms("The Boundary-layer's effects were investigated by NASA's engineers in 1960s.")
            == ["boundari", "layer", "effect", "were", "investig", "nasa", "engin", "1960"])
    }

    @Test func stopWordsAreLucenes() {
        #expect(EnglishAnalyzer.stopWords.count == 33)
        let text = EnglishAnalyzer.stopWords.sorted().joined(separator: " ")
        #expect(analyzer.terms(text) == [])
        #expect(analyzer.terms("THE Such THEIR") == [])
        // Not Lucene stop words (they are in other lists).
        #expect(analyzer.terms("we have been") == ["we", "have", "been"])
    }

    @Test func possessivesAndCase() {
        #expect(analyzer.terms("John’s JOHN'S johns") == ["john", "john", "john"])
        // é is not an ASCII vowel, so "école" keeps its e (cvc before it), as in Lucene.
        #expect(analyzer.terms("İstanbul ÉCOLE") == ["istanbul", "école"])
    }
}
