import Datasets
import Foundation
import Testing
@testable import Retrieval

/// BM25 straight from the formula over analyzed documents, in Double, with
/// Lucene's statistics: N and avgdl over documents that have terms, and each
/// length as its one-byte norm decodes (exact below 40 terms, which covers
/// this corpus). The plain reference the index's precomputed, accumulated
/// float scores must agree with.
func referenceBM25(documents: [Document], query: String, parameters: BM25Parameters = .init()) -> [String: Double] {
    let analyzer = EnglishAnalyzer()
    let docs = documents.map { analyzer.terms($0.contents) }
    let n = Double(docs.filter { !$0.isEmpty }.count)
    let avgdl = Double(docs.reduce(0) { $0 + $1.count }) / n
    let queryTerms = analyzer.terms(query)
    var documentFrequency: [String: Double] = [:]
    for q in Set(queryTerms) { documentFrequency[q] = Double(docs.filter { $0.contains(q) }.count) }
    var scores: [String: Double] = [:]
    for (i, terms) in docs.enumerated() {
        var score = 0.0
        for q in queryTerms {
            let df = documentFrequency[q] ?? 0
            guard df > 0 else { continue }
            let tf = Double(terms.filter { $0 == q }.count)
            guard tf > 0 else { continue }
            let idf: Double = log(1 + (n - df + 0.5) / (df + 0.5))
            let length = Double(SmallFloat.byte4ToInt(SmallFloat.intToByte4(terms.count))) / avgdl
            let norm: Double = parameters.k1 * (1 - parameters.b + parameters.b * length)
            score += idf * tf / (tf + norm)
        }
        if score > 0 { scores[documents[i].id] = score }
    }
    return scores
}

let smallCorpus: [Document] = [
    Document(id: "d1", title: "Boundary layers", text: "The boundary layer on a flat plate in supersonic flow."),
    Document(id: "d2", text: "Heat transfer in the laminar boundary layer of a cone."),
    Document(id: "d3", text: "Flutter of panels; panel flutter at supersonic speeds, flutter flutter."),
    Document(id: "d4", text: ""),
    Document(id: "d5", text: "Shock waves and shock-wave boundary-layer interaction."),
    Document(id: "d6", text: "Buckling of thin cylindrical shells under axial compression."),
    Document(id: "d7", text: "Supersonic flow past a cone: pressure distribution and heat transfer."),
]

@Suite struct BM25IndexTests {
    let queries = [
        "boundary layer", "supersonic flutter", "heat transfer cone", "shock shock boundary",
        "nothing matches here zzz", "the of and", "cylindrical shells buckling compression",
    ]

    @Test func scoresMatchTheFormula() {
        for parameters in [BM25Parameters(), BM25Parameters(k1: 1.2, b: 0.75), BM25Parameters(k1: 0.5, b: 0)] {
            let index = BM25Index.build(documents: smallCorpus, parameters: parameters)
            #expect(index.documentCount == smallCorpus.count)
            for query in queries {
                let expected = referenceBM25(documents: smallCorpus, query: query, parameters: parameters)
                let got = index.search(query, topK: 100)
                #expect(got.count == expected.count, "\(query)")
                for hit in got {
                    let want = expected[hit.id] ?? .nan
                    #expect(abs(hit.score - want) <= 1e-5 * want, "\(query) \(hit.id): \(hit.score) vs \(want)")
                }
                // Best first, and the order is the reference's order.
                let order = expected.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map(\.key)
                #expect(got.map(\.id) == order, "\(query)")
            }
        }
    }

    /// Scores of chosen documents (the teacher's first stage) are search's, to the bit, and 0 without a shared term.
    @Test func scoresOfChosenDocumentsEqualSearch() {
        let index = BM25Index.build(documents: smallCorpus)
        for query in queries {
            let hits = Dictionary(uniqueKeysWithValues: index.search(query, topK: 100).map { ($0.id, $0.score) })
            let positions = Array(smallCorpus.indices.reversed()) + [0]
            let scores = index.scores(query, positions: positions)
            #expect(scores.count == positions.count)
            for (position, score) in zip(positions, scores) {
                #expect(score == (hits[smallCorpus[position].id] ?? 0), "\(query) \(smallCorpus[position].id)")
            }
        }
        #expect(index.scores("boundary layer", positions: [0])[0] > 0)
    }

    @Test func repeatedQueryTermsCountAgain() {
        let index = BM25Index.build(documents: smallCorpus)
        let once = index.search("shock", topK: 1)
        let twice = index.search("shock shock", topK: 1)
        #expect(once.count == 1 && twice.count == 1)
        #expect(abs(twice[0].score - 2 * once[0].score) < 1e-5)
    }

    @Test func topKBoundsAndTiesBreakByPosition() {
        let docs = (0..<50).map { Document(id: "doc\($0)", text: $0 % 2 == 0 ? "alpha beta" : "alpha gamma") }
        let index = BM25Index.build(documents: docs)
        let hits = index.search("alpha", topK: 10)
        // All 50 tie; the earliest ten in collection order win, in order.
        #expect(hits.map(\.id) == (0..<10).map { "doc\($0)" })
        #expect(index.search("alpha", topK: 0).isEmpty)
        #expect(index.search("alpha", topK: 1000).count == 50)
        #expect(index.search("beta", topK: 1000).map(\.id) == stride(from: 0, to: 50, by: 2).map { "doc\($0)" })
    }

    @Test func batchSearchEqualsSingleSearches() async {
        let docs = (0..<500).map { i in
            Document(id: "d\(i)", text: (0..<20).map { "w\(($0 * 7 + i * 13) % 97)" }.joined(separator: " "))
        }
        let index = BM25Index.build(documents: docs)
        let queries = (0..<40).map { Query(id: "q\($0)", text: "w\($0) w\($0 * 3 % 97) w\(($0 + 5) % 97)") }
        let run = await index.search(queries, topK: 25)
        #expect(run.rankings.count == queries.count)
        for q in queries { #expect(run[q.id] == index.search(q.text, topK: 25), "\(q.id)") }
    }

    /// The touched-list and full-scan accumulator paths rank identically.
    @Test func denseAndSparseScoringAgree() {
        let docs = (0..<3000).map { i in
            Document(id: "d\(i)", text: (0..<12).map { "w\(($0 * 31 + i * 7) % (50 + $0 * 40))" }.joined(separator: " "))
        }
        let index = BM25Index.build(documents: docs)
        var searcher = Searcher(index: index)
        var scratch = EnglishAnalyzer.Scratch()
        for q in 0..<60 {
            let terms = index.queryTerms("w\(q) w\(q * 5 % 400) w\((q * 11) % 50) w\(q)", scratch: &scratch)
            let sparse = searcher.scoreTopK(terms: terms, topK: 20, dense: false)
            let dense = searcher.scoreTopK(terms: terms, topK: 20, dense: true)
            #expect(sparse == dense, "query \(q)")
            #expect(!sparse.isEmpty)
        }
    }

    @Test func parallelBuildEqualsAcrossChunkBoundaries() {
        // More documents than one build chunk, so vocabularies are merged.
        let docs = (0..<5000).map { i in Document(id: "d\(i)", text: "t\(i % 311) t\(i % 17) shared") }
        let index = BM25Index.build(documents: docs)
        let hits = index.search("t5 t10", topK: 5)
        let expected = referenceBM25(documents: Array(docs), query: "t5 t10")
        let order = expected.sorted { $0.value > $1.value || ($0.value == $1.value && Int($0.key.dropFirst())! < Int($1.key.dropFirst())!) }
        #expect(hits.map(\.id) == order.prefix(5).map(\.key))
    }

    /// Lucene stores a length in one byte: 100 and 96 terms share a norm
    /// (both read as 96), so the two documents score the same; with exact
    /// lengths the shorter would win.
    @Test func lengthsAreLucenesOneByteNorms() {
        let pad = { (n: Int) in Array(repeating: "pad", count: n).joined(separator: " ") }
        let docs = [
            Document(id: "long", text: "target " + pad(99)),
            Document(id: "short", text: "target " + pad(95)),
            Document(id: "other", text: "something else entirely"),
        ]
        let hits = BM25Index.build(documents: docs).search("target", topK: 10)
        #expect(hits.map(\.id) == ["long", "short"])
        #expect(hits.count == 2 && hits[0].score == hits[1].score)
        let exact = BM25Index.build(documents: [docs[0], Document(id: "short", text: "target " + pad(94))]).search("target", topK: 10)
        #expect(exact.map(\.id) == ["short", "long"])  // 95 and 100 terms: 88 and 96 after encoding
    }

    /// Documents without terms have no field in Lucene: they change neither N nor avgdl.
    @Test func emptyDocumentsDoNotCount() {
        let plain = BM25Index.build(documents: smallCorpus.filter { !$0.contents.isEmpty })
        let padded = BM25Index.build(documents: smallCorpus + [Document(id: "e1", text: ""), Document(id: "e2", text: "the of and")])
        for query in queries {
            #expect(padded.search(query, topK: 100) == plain.search(query, topK: 100), "\(query)")
        }
    }

    @Test func progressReachesTheTotal() {
        let docs = (0..<5000).map { Document(id: "d\($0)", text: "x y z") }
        let seen = ProgressLog()
        _ = BM25Index.build(documents: docs, progress: { done, total in seen.record(done, total) })
        #expect(seen.maximum == (5000, 5000))
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var best = (0, 0)
    func record(_ done: Int, _ total: Int) {
        lock.lock()
        if done > best.0 { best = (done, total) }
        lock.unlock()
    }
    var maximum: (Int, Int) {
        lock.lock()
        defer { lock.unlock() }
        return best
    }
}
