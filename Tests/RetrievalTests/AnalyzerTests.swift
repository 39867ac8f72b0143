import Foundation
import Testing
@testable import Retrieval

/// Lucene's answers for the analyzer tests' strings and for the stemmer, from
/// Tests/RetrievalTests/Fixtures/lucene_probes.tsv (Scripts/fixtures/make_lucene_fixture.py
/// runs Lucene 9.9.1 through Anserini 1.1.1's jar on Scripts/fixtures/lucene_probes.txt).
struct LuceneProbes {
    struct Probe {
        var text: String
        var tokens: [String]
        var terms: [String]
    }
    var probes: [Probe] = []
    /// Words of porter_cranfield.tsv whose Lucene stem is not the file's NLTK stem.
    var stemOverrides: [String: String] = [:]

    init() throws {
        var texts: [Int: String] = [:], tokens: [Int: [String]] = [:], terms: [Int: [String]] = [:]
        for (n, row) in try Fixture.tsv("lucene_probes.tsv").enumerated() {
            try #require(row.count == 3, "lucene_probes.tsv line \(n + 1): expected 3 fields")
            let words = row[2].split(separator: " ").map(String.init)
            switch row[0] {
            case "p": texts[try #require(Int(row[1]))] = String(row[2])
            case "t": tokens[try #require(Int(row[1]))] = words
            case "a": terms[try #require(Int(row[1]))] = words
            case "s": stemOverrides[String(row[1])] = String(row[2])
            default: Issue.record("lucene_probes.tsv line \(n + 1): unknown kind \(row[0])")
            }
        }
        for n in texts.keys.sorted() {
            probes.append(Probe(text: texts[n] ?? "", tokens: try #require(tokens[n]), terms: try #require(terms[n])))
        }
    }
}

@Suite struct PorterStemmerTests {
    /// Every distinct token of the Cranfield files, stemmed as Lucene's
    /// PorterStemFilter stems it: the NLTK (MARTIN_EXTENSIONS) column of
    /// porter_cranfield.tsv (Scripts/fixtures/make_bm25_porter_fixture.py),
    /// corrected where Lucene itself disagrees (lucene_probes.tsv "s" rows).
    @Test func matchesLuceneOnCranfieldVocabulary() throws {
        let rows = try Fixture.tsv("porter_cranfield.tsv")
        let lucene = try LuceneProbes().stemOverrides
        #expect(rows.count > 10_000)
        var mismatches: [String] = []
        for row in rows {
            try #require(row.count == 3, "bad fixture row \(row)")
            let want = lucene[String(row[0])] ?? String(row[1])
            let got = PorterStemmer.stem(String(row[0]))
            if got != want { mismatches.append("\(row[0]): got \(got), want \(want)") }
        }
        print("Porter on \(rows.count) Cranfield words: \(lucene.count) where Lucene differs from NLTK, \(mismatches.count) mismatches")
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(10))")
    }

    /// PyStemmer's "porter" (third column) follows the 1980 paper; Lucene
    /// follows Porter's reference code. Where they differ, our stemmer must
    /// give Lucene's stem, and the difference must be one of the reference
    /// code's three documented departures, matched exactly:
    /// - words of one or two letters are left alone ("is", not "i");
    /// - step 2 rewrites -bli to -ble (the paper: -abli to -able), so the
    ///   paper's -bli stem is cut further ("possibli" -> "possibl");
    /// - step 2 rewrites -logi to -log ("technologi" -> "technolog").
    @Test func differsFromThePaperOnlyWhereLuceneDoes() throws {
        let rows = try Fixture.tsv("porter_cranfield.tsv")
        let lucene = try LuceneProbes().stemOverrides
        var unexplained: [String] = []
        var counts = (short: 0, bli: 0, logi: 0)
        for row in rows {
            let word = String(row[0]), paper = String(row[2])
            let want = lucene[word] ?? String(row[1])
            let ours = PorterStemmer.stem(word)
            guard ours != paper else { continue }
            if ours != want {
                unexplained.append("\(word): ours \(ours), Lucene \(want)")
            } else if word.count <= 2 && ours == word {
                counts.short += 1
            } else if paper.hasSuffix("bli") && paper.hasPrefix(ours) && ours.count < paper.count {
                counts.bli += 1
            } else if paper.hasSuffix("logi") && ours == String(paper.dropLast()) {
                counts.logi += 1
            } else {
                unexplained.append("\(word): ours \(ours), paper \(paper)")
            }
        }
        print("Porter vs the 1980 paper on Cranfield: short \(counts.short), -bli \(counts.bli), -logi \(counts.logi)")
        #expect(counts.short > 0 && counts.bli > 0 && counts.logi > 0)
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

    /// Word boundaries (ASCII punctuation, numbers, Unicode letters,
    /// ideographs, kana, emoji sequences, format characters) as Lucene's
    /// StandardTokenizer draws them on the probe strings.
    @Test func matchesLuceneOnProbes() throws {
        let probes = try LuceneProbes().probes
        #expect(probes.count >= 20)
        for probe in probes {
            #expect(tokenizer.tokens(probe.text) == probe.tokens, "\(probe.text.prefix(60))")
        }
    }

    /// Lucene cuts a token at maxTokenLength and goes on with the rest (the
    /// 255 case is also a probe); the same holds for a small limit.
    @Test func longTokensAreCut() {
        #expect(tokenizer.tokens(String(repeating: "a", count: 300) + " b").map(\.count) == [255, 45, 1])
        #expect(StandardTokenizer(maxTokenLength: 4).tokens("abcdefghij") == ["abcd", "efgh", "ij"])
    }
}

@Suite struct EnglishAnalyzerTests {
    let analyzer = EnglishAnalyzer()

    /// Possessives, case (Unicode included), stop words and stemming, term
    /// for term as Lucene's chain gives them on the probe strings.
    @Test func matchesLuceneOnProbes() throws {
        let probes = try LuceneProbes().probes
        for probe in probes {
            #expect(analyzer.terms(probe.text) == probe.terms, "\(probe.text.prefix(60))")
        }
        // The probes hold every stop word: Lucene drops them all, as we must.
        let stopWords = EnglishAnalyzer.stopWords.sorted().joined(separator: " ")
        #expect(probes.contains { $0.text == stopWords && $0.terms.isEmpty })
    }

    @Test func stopWordsAreLucenes() {
        #expect(EnglishAnalyzer.stopWords.count == 33)
    }
}
