import Datasets
import Foundation
import Testing
import TestSupport
@testable import Retrieval

/// Tolerances for the comparison with Lucene (Anserini 1.1.1 = Lucene 9.9.1).
enum LuceneTolerance {
    /// Relative score difference, document by document and rank by rank.
    /// Both sides compute in float32 in the same order; what remains is
    /// Lucene summing a document's term scores in double (we sum in float)
    /// and weighting a repeated query term before, not after, saturation.
    static let relativeScore = 1e-5
}

/// The fixtures Scripts/fixtures/make_lucene_fixture.py wrote from real Lucene.
enum LuceneFixture {
    /// kind ("d" document, "q" query) -> id -> analysed terms.
    static func tokens() throws -> [String: [String: [String]]] {
        var out: [String: [String: [String]]] = [:]
        for (n, row) in try Fixture.tsv("lucene_cranfield_tokens.tsv").enumerated() {
            try #require(row.count == 3, "lucene_cranfield_tokens.tsv line \(n + 1): expected 3 fields")
            out[String(row[0]), default: [:]][String(row[1])] = row[2].split(separator: " ").map(String.init)
        }
        return out
    }

    /// Query id -> Lucene's top-100, best first (Lucene's order).
    static func run() throws -> [String: [ScoredDocument]] {
        var out: [String: [ScoredDocument]] = [:]
        for (n, row) in try Fixture.tsv("lucene_cranfield_top100.tsv").enumerated() {
            try #require(row.count == 3, "lucene_cranfield_top100.tsv line \(n + 1): expected 3 fields")
            let score = try #require(Double(row[2]), "lucene_cranfield_top100.tsv line \(n + 1): bad score")
            out[String(row[0]), default: []].append(ScoredDocument(id: String(row[1]), score: score))
        }
        return out
    }

    static func statistics() throws -> [String: [Substring]] {
        var out: [String: [Substring]] = [:]
        for row in try Fixture.tsv("lucene_cranfield_stats.tsv") where row.count == 2 {
            out[String(row[0])] = row[1].split(separator: " ")
        }
        return out
    }
}

@Suite struct SmallFloatTests {
    @Test func lengthTableIsLucenes() throws {
        let table = try #require(LuceneFixture.statistics()["lengthTable"]).compactMap { Int($0) }
        #expect(table.count == 256)
        #expect((0..<256).map { SmallFloat.byte4ToInt(UInt8($0)) } == table)
        // LENGTH_TABLE holds floats: above 2^24 they round, as Java's int-to-float does.
        #expect(SmallFloat.lengthTable == table.map { Float($0) })
    }

    /// intToByte4 keeps the largest decodable length not above the input:
    /// checked against Lucene's table, not against our own decoder.
    @Test func encodingRoundsDownToLucenesTable() throws {
        let table = try #require(LuceneFixture.statistics()["lengthTable"]).compactMap { Int($0) }
        try #require(table.count == 256)
        var failures: [Int] = []
        for length in Array(0...70_000) + [1 << 20, 123_456_789, Int(Int32.max)] {
            let byte = Int(SmallFloat.intToByte4(length))
            let fits = table[byte] <= length && (byte == 255 || table[byte + 1] > length)
            if !fits { failures.append(length) }
        }
        #expect(failures.isEmpty, "first failures: \(failures.prefix(10))")
        #expect(SmallFloat.byte4ToInt(SmallFloat.intToByte4(100)) == 96)
    }
}

@Suite struct LuceneParityTests {
    /// Every Cranfield document and query, term for term, against Anserini's
    /// DefaultEnglishAnalyzer. No exceptions are needed: there are none.
    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func analysisMatchesLuceneOnCranfield() throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        let lucene = try LuceneFixture.tokens()
        let analyzer = EnglishAnalyzer()
        var differences: [String] = []
        var compared = 0, terms = 0
        func compare(_ kind: String, _ id: String, _ text: String) {
            let ours = analyzer.terms(text)
            guard let theirs = lucene[kind]?[id] else {
                differences.append("\(kind) \(id): not in the fixture")
                return
            }
            compared += 1
            terms += theirs.count
            if ours != theirs {
                let at = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, theirs.count)
                differences.append("\(kind) \(id) at term \(at): ours \(ours[at...].prefix(3)), Lucene \(theirs[at...].prefix(3))")
            }
        }
        for document in collection.documents { compare("d", document.id, document.contents) }
        for query in collection.queries { compare("q", query.id, query.text) }
        print("Lucene analysis parity on Cranfield: \(compared) texts, \(terms) terms, \(differences.count) differences")
        #expect(compared == 1400 + 225)
        #expect(lucene["d"]?.count == 1400 && lucene["q"]?.count == 225)
        #expect(differences.isEmpty, "\(differences.count) texts differ: \(differences.prefix(10))")
    }

    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func collectionStatisticsAreLucenes() throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        let index = BM25Index.build(documents: collection.documents)
        let stats = try LuceneFixture.statistics()
        let withTerms = index.documentLengths.filter { $0 > 0 }
        // Documents 471 and 995 are empty: Anserini does not index them, Lucene's N leaves them out.
        #expect(stats["docCount"]?.first.flatMap { Int($0) } == withTerms.count)
        #expect(stats["sumTotalTermFreq"]?.first.flatMap { Int($0) } == withTerms.reduce(0) { $0 + Int($1) })
    }

    /// Lucene's top-100 for all 225 queries: the same scores rank by rank
    /// and document by document. A Lucene document we do not return must be
    /// tied (within tolerance) with our 100th: only exact ties at the cut-off
    /// may be broken differently.
    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func rankingsMatchLucene() async throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        let index = BM25Index.build(documents: collection.documents)
        let run = await index.search(collection.queries, topK: 100)
        let lucene = try LuceneFixture.run()
        #expect(lucene.count == 225)

        func close(_ a: Double, _ b: Double) -> Bool {
            abs(a - b) <= LuceneTolerance.relativeScore * max(abs(a), abs(b))
        }
        var shared = 0, total = 0, tiedAtCutoff = 0, maxRelative = 0.0
        var failures: [String] = []
        for query in collection.queries {
            let ours = run[query.id]
            let theirs = lucene[query.id] ?? []
            total += theirs.count
            if ours.count != theirs.count { failures.append("\(query.id): \(ours.count) hits, Lucene \(theirs.count)") }
            for (rank, (a, b)) in zip(ours, theirs).enumerated() where !close(a.score, b.score) {
                failures.append("\(query.id) rank \(rank + 1): score \(a.score), Lucene \(b.score)")
            }
            let ourScores = Dictionary(ours.map { ($0.id, $0.score) }, uniquingKeysWith: { a, _ in a })
            for hit in theirs {
                if let score = ourScores[hit.id] {
                    shared += 1
                    maxRelative = max(maxRelative, abs(score - hit.score) / hit.score)
                    if !close(score, hit.score) { failures.append("\(query.id) \(hit.id): \(score), Lucene \(hit.score)") }
                } else if let last = ours.last, close(last.score, hit.score) {
                    tiedAtCutoff += 1
                } else {
                    failures.append("\(query.id) \(hit.id) (Lucene \(hit.score)) missing")
                }
            }
        }
        print("""
            Lucene parity on Cranfield (225 queries, top-100): \(shared)/\(total) documents shared, \
            \(tiedAtCutoff) tied at the cut-off, max relative score difference \(String(format: "%.2g", maxRelative))
            """)
        #expect(total == 22_500)
        #expect(failures.isEmpty, "\(failures.count) failures: \(failures.prefix(10))")
    }
}
