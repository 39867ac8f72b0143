import Foundation
import Testing
import Datasets
@testable import Reranking

/// Every expected value below is worked out by hand in the comment beside it.
@Suite struct ScoreFusionTests {
    /// Scores the candidates with fixed values, so a test controls the reranker's side.
    struct FixedReranker: Reranker {
        let scores: [String: Double]
        var name: String { "fixed" }
        func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
            RankedResults(query: query, results: rankByScore(candidates.map { scores[$0.id] ?? 0 }, candidates: candidates))
        }
    }

    @Test func parsing() throws {
        #expect(try ScoreFusion(parsing: "interpolate:0.7") == .interpolate(lambda: 0.7))
        #expect(try ScoreFusion(parsing: "RRF:60") == .reciprocalRank(k: 60))
        for bad in ["interpolate", "interpolate:1.5", "interpolate:-0.1", "rrf:-1", "rrf:abc", "mean:0.5", "interpolate:nan"] {
            #expect(throws: RerankingError.self, "\(bad)") { try ScoreFusion(parsing: bad) }
        }
        #expect(ScoreFusion.interpolate(lambda: 0.7).description == "interpolate:0.7")
    }

    /// first stage 4, 2, 0 -> 1, 0.5, 0; reranker 0, 4, 2 -> 0, 1, 0.5;
    /// lambda 0.5: 0.5, 0.75, 0.25 -> order 1, 0, 2.
    @Test func interpolationOfMinMaxNormalisedScores() {
        let fusion = ScoreFusion.interpolate(lambda: 0.5)
        #expect(fusion.fuse(firstStage: [4, 2, 0], rerank: [0, 4, 2]) == [0.5, 0.75, 0.25])
        // lambda 1 is the reranker alone, 0 the first stage alone.
        #expect(ScoreFusion.interpolate(lambda: 1).fuse(firstStage: [4, 2, 0], rerank: [0, 4, 2]) == [0, 1, 0.5])
        #expect(ScoreFusion.interpolate(lambda: 0).fuse(firstStage: [4, 2, 0], rerank: [0, 4, 2]) == [1, 0.5, 0])
        // lambda 0.25 on first stage 10, 6, 2 (-> 1, 0.5, 0) and reranker -1, 3, 1 (-> 0, 1, 0.5):
        // 0.75 + 0, 0.25 + 0.375 = 0.625, 0.125 + 0 = 0.125.
        #expect(ScoreFusion.interpolate(lambda: 0.25).fuse(firstStage: [10, 6, 2], rerank: [-1, 3, 1]) == [0.75, 0.625, 0.125])
    }

    /// A side whose scores are all equal normalises to 0 and the other side
    /// decides; one candidate fuses to 0.
    @Test func constantScoresAndSingleCandidates() {
        let fused = ScoreFusion.interpolate(lambda: 0.9).fuse(firstStage: [3, 2, 1], rerank: [7, 7, 7])
        // 0.1 x (1, 0.5, 0)
        #expect(zip(fused, [0.1, 0.05, 0]).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(ScoreFusion.interpolate(lambda: 0.3).fuse(firstStage: [5, 5], rerank: [1, 2]) == [0, 0.3])
        #expect(ScoreFusion.interpolate(lambda: 0.3).fuse(firstStage: [5], rerank: [1]) == [0])
    }

    /// k = 60, first-stage ranks 1, 2, 3, reranker scores 0.1, 0.9, 0.5 ->
    /// reranker ranks 3, 1, 2: 1/61 + 1/63, 1/62 + 1/61, 1/63 + 1/62.
    @Test func reciprocalRankFusion() {
        let fused = ScoreFusion.reciprocalRank(k: 60).fuse(firstStage: [9, 8, 7], rerank: [0.1, 0.9, 0.5])
        let expected = [0.032266458495966692, 0.032522474881015336, 0.032002048131080388]
        #expect(zip(fused, expected).allSatisfy { abs($0 - $1) < 1e-15 })
        // RRF ignores the score values, only their order counts.
        #expect(ScoreFusion.reciprocalRank(k: 60).fuse(firstStage: [100, 1, 0.5], rerank: [-5, 50, 0]) == fused)
        // First-stage scores out of order rank by value: 1, 3, 2 -> ranks 3, 1, 2; reranker equal
        // scores rank in index order 1, 2, 3: 1/63 + 1/61, 1/61 + 1/62, 1/62 + 1/63.
        let unsorted = ScoreFusion.reciprocalRank(k: 60).fuse(firstStage: [1, 3, 2], rerank: [0, 0, 0])
        #expect(zip(unsorted, [0.032266458495966692, 0.032522474881015336, 0.032002048131080388]).allSatisfy { abs($0 - $1) < 1e-15 })
    }

    /// Fused ties go to the reranker's order. interpolate 0.5 on 4, 2, 0 and
    /// 0, 2, 4: every candidate fuses to 0.5, so the reranker's 2, 1, 0 stands.
    /// rrf k = 0 on two candidates the reranker swaps: 1 + 1/2 both.
    @Test func tiesFollowTheReranker() {
        let results = rankByScore([0, 2, 4], candidates: ["a", "b", "c"].map { Document(id: $0, text: $0) })
        let fused = ScoreFusion.interpolate(lambda: 0.5).fuse(results, firstStage: [4, 2, 0])
        #expect(fused.map(\.documentID) == ["c", "b", "a"])
        #expect(fused.allSatisfy { $0.score == 0.5 })
        let swapped = rankByScore([1, 2], candidates: ["a", "b"].map { Document(id: $0, text: $0) })
        let rrf = ScoreFusion.reciprocalRank(k: 0).fuse(swapped, firstStage: [2, 1])
        #expect(rrf.map(\.documentID) == ["b", "a"] && rrf.allSatisfy { $0.score == 1.5 })
    }

    /// Through RunReranker: the head (depth 3) is fused, the tail keeps its
    /// first-stage order below it. First stage d1..d4 scores 4, 2, 0, -1;
    /// reranker 0, 4, 2 on d1..d3; lambda 0.5 -> d2 0.75, d1 0.5, d3 0.25.
    @Test func runRerankerFusesTheHead() async throws {
        let run = Run(["q": [("d1", 4.0), ("d2", 2.0), ("d3", 0.0), ("d4", -1.0)].map { ScoredDocument(id: $0.0, score: $0.1) }], tag: "bm25")
        let documents = Dictionary(uniqueKeysWithValues: ["d1", "d2", "d3", "d4"].map { ($0, Document(id: $0, text: "text \($0)")) })
        var driver = RunReranker(reranker: FixedReranker(scores: ["d1": 0, "d2": 4, "d3": 2]), depth: 3)
        let plain = try await driver.rerank(run: run, queries: [Query(id: "q", text: "query")], documents: documents)
        #expect(plain["q"].map(\.id) == ["d2", "d3", "d1", "d4"])
        driver.fusion = .interpolate(lambda: 0.5)
        let fused = try await driver.rerank(run: run, queries: [Query(id: "q", text: "query")], documents: documents)
        #expect(fused["q"].map(\.id) == ["d2", "d1", "d3", "d4"])
        #expect(fused["q"].prefix(3).map(\.score) == [0.75, 0.5, 0.25])
        #expect(fused.tag == "bm25+fixed+interpolate:0.5")
    }
}
