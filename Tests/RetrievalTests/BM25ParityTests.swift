import Datasets
import Foundation
import Testing
import TestSupport
@testable import Retrieval

/// Tolerances for the comparison with bm25s (float32 scores, 7 printed digits).
enum ParityTolerance {
    /// Relative score difference for a document both rankings return.
    static let relativeScore = 1e-4
    /// |nDCG@10(ours) - nDCG@10(bm25s)|, the issue's acceptance bound.
    static let ndcg10 = 0.005
    /// Share of bm25s's top-100 we must also return; only float32 ties at the
    /// cut-off may differ.
    static let minimumOverlap = 0.999
}

/// nDCG@k the trec_eval way: gain = grade, log2 discount, a run ordered by
/// score descending then document id descending; the ideal ranking over all
/// judged relevant documents. A small local helper so this test depends on
/// Retrieval and Datasets only.
func ndcg(_ ranking: [ScoredDocument], judgements: [String: Int], k: Int) -> Double {
    let ordered = ranking.sorted { $0.score > $1.score || ($0.score == $1.score && $0.id > $1.id) }
    var dcg = 0.0
    for (rank, hit) in ordered.prefix(k).enumerated() {
        let gain = Double(max(0, judgements[hit.id] ?? 0))
        dcg += gain / log2(Double(rank) + 2)
    }
    let ideal = judgements.values.filter { $0 > 0 }.sorted(by: >).prefix(k)
    var idcg = 0.0
    for (rank, gain) in ideal.enumerated() { idcg += Double(gain) / log2(Double(rank) + 2) }
    return idcg > 0 ? dcg / idcg : 0
}

@Suite struct BM25ParityTests {
    /// bm25s 0.3.16 (method "lucene", k1 0.9, b 0.4) on the same analysis,
    /// from Scripts/fixtures/make_bm25_parity_fixture.py.
    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func cranfieldMatchesBM25S() async throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        #expect(collection.queries.count == 225)
        let index = BM25Index.build(documents: collection.documents)
        let run = await index.search(collection.queries, topK: 100)

        var reference: [String: [ScoredDocument]] = [:]
        for row in try Fixture.tsv("bm25s_cranfield_top100.tsv") {
            try #require(row.count == 3, "bad fixture row \(row)")
            let score = try #require(Double(row[2]))
            reference[String(row[0]), default: []].append(ScoredDocument(id: String(row[1]), score: score))
        }
        #expect(reference.count == 225)

        var shared = 0, referenceTotal = 0
        var maxAbsolute = 0.0, maxRelative = 0.0
        var ndcgOurs = 0.0, ndcgTheirs = 0.0, maxQueryNDCGDifference = 0.0
        for query in collection.queries {
            let ours = run[query.id]
            let theirs = reference[query.id] ?? []
            let ourScores = Dictionary(ours.map { ($0.id, $0.score) }, uniquingKeysWith: { a, _ in a })
            referenceTotal += theirs.count
            for hit in theirs {
                guard let score = ourScores[hit.id] else { continue }
                shared += 1
                let difference = abs(score - hit.score)
                maxAbsolute = max(maxAbsolute, difference)
                maxRelative = max(maxRelative, difference / max(hit.score, 1e-9))
            }
            let judgements = collection.qrels[query.id]
            let a = ndcg(ours, judgements: judgements, k: 10)
            let b = ndcg(theirs, judgements: judgements, k: 10)
            ndcgOurs += a
            ndcgTheirs += b
            maxQueryNDCGDifference = max(maxQueryNDCGDifference, abs(a - b))
        }
        let judged = Double(collection.queries.count)
        let overlap = Double(shared) / Double(max(1, referenceTotal))
        let meanOurs = ndcgOurs / judged, meanTheirs = ndcgTheirs / judged
        print("""
            BM25 parity vs bm25s on Cranfield (225 queries, top-100):
              top-100 overlap \(shared)/\(referenceTotal) = \(String(format: "%.5f", overlap))
              max score difference \(String(format: "%.3g", maxAbsolute)) absolute, \(String(format: "%.3g", maxRelative)) relative
              nDCG@10 ours \(String(format: "%.6f", meanOurs)), bm25s \(String(format: "%.6f", meanTheirs)), \
            difference \(String(format: "%.2g", abs(meanOurs - meanTheirs))) (max per query \(String(format: "%.2g", maxQueryNDCGDifference)))
            """)
        #expect(overlap >= ParityTolerance.minimumOverlap)
        #expect(maxRelative <= ParityTolerance.relativeScore)
        #expect(abs(meanOurs - meanTheirs) <= ParityTolerance.ndcg10)
    }
}
