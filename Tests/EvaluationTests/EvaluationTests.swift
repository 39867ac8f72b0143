import Foundation
import Testing
import TestSupport
import Datasets
@testable import Evaluation

/// pytrec_eval prints doubles; trec_eval computes in double too, so the
/// values agree to rounding. The brief's bound for per-query differences.
let parityTolerance = 1e-6

enum Fixture {
    static func url(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// pytrec_eval's per-query values from `Scripts/fixtures/make_eval_fixtures.py`.
    static func expected(_ name: String) throws -> [String: [String: Double]] {
        struct File: Decodable { var per_query: [String: [String: Double]] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url("\(name).expected.json"))).per_query
    }
}

/// Every measure the fixtures carry, by pytrec_eval's names.
let parityMeasures: [Measure] = [
    .ndcg(cutoff: 5), .ndcg(cutoff: 10), .ndcg(cutoff: 100), .averagePrecision, .reciprocalRank,
    .precision(cutoff: 5), .precision(cutoff: 10), .recall(cutoff: 10), .recall(cutoff: 100),
]

/// Compares per-query values with pytrec_eval's; pytrec_eval evaluates the
/// queries present in both run and qrels, which is the `.skip` policy.
func checkParity(run: Run, qrels: Qrels, expected: [String: [String: Double]]) {
    let report = Evaluator.evaluate(run: run, qrels: qrels, measures: parityMeasures, unretrieved: .skip)
    #expect(Set(report.perQuery.keys) == Set(expected.keys))
    var worst = 0.0
    for (query, values) in expected {
        for measure in parityMeasures {
            guard let reference = values[measure.trecName], let ours = report.perQuery[query]?[measure] else {
                Issue.record("query \(query): no value for \(measure.trecName)")
                continue
            }
            worst = max(worst, abs(reference - ours))
            #expect(abs(reference - ours) <= parityTolerance, "query \(query) \(measure.trecName): \(ours) vs pytrec_eval \(reference)")
        }
    }
    print("parity: \(expected.count) queries x \(parityMeasures.count) measures, max |diff| = \(worst)")
}

@Suite struct PytrecEvalParityTests {
    @Test func tieHeavyRandomRun() throws {
        let run = try TRECFormat.readRun(from: Fixture.url("ties.run"))
        let qrels = try TRECFormat.readQrels(from: Fixture.url("ties.qrels"))
        checkParity(run: run, qrels: qrels, expected: try Fixture.expected("ties"))
    }

    @Test func unjudgedDocumentsAndMissingQueries() throws {
        let run = try TRECFormat.readRun(from: Fixture.url("unjudged.run"))
        let qrels = try TRECFormat.readQrels(from: Fixture.url("unjudged.qrels"))
        checkParity(run: run, qrels: qrels, expected: try Fixture.expected("unjudged"))
    }

    /// The qrels are the collection's own (not committed), read by the Cranfield adapter.
    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func cranfieldBM25Run() throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        let run = try TRECFormat.readRun(from: Fixture.url("cranfield_bm25.run"), knownQueries: collection.queryIDs)
        checkParity(run: run, qrels: collection.qrels, expected: try Fixture.expected("cranfield_bm25"))
    }
}

@Suite struct MeanTests {
    @Test func unretrievedJudgedQueriesCountAsZeroOrAreSkipped() throws {
        let run = try TRECFormat.readRun(from: Fixture.url("unjudged.run"))
        let qrels = try TRECFormat.readQrels(from: Fixture.url("unjudged.qrels"))
        let expected = try Fixture.expected("unjudged")
        let skip = Evaluator.evaluate(run: run, qrels: qrels, measures: [.averagePrecision], unretrieved: .skip)
        let zero = Evaluator.evaluate(run: run, qrels: qrels, measures: [.averagePrecision], unretrieved: .countAsZero)
        let total = expected.values.reduce(0.0) { $0 + $1["map"]! }
        // Run queries 100 and 101 have no judgements; judged 31...40 are not in the run.
        #expect(skip.queryCount == expected.count)
        #expect(zero.queryCount == qrels.judgements.count)
        #expect(zero.unretrievedQueries.sorted() == (31...40).map(String.init).sorted())
        #expect(abs(skip.mean[.averagePrecision]! - total / Double(expected.count)) <= parityTolerance)
        #expect(abs(zero.mean[.averagePrecision]! - total / Double(qrels.judgements.count)) <= parityTolerance)
    }
}

@Suite struct HandComputedTests {
    @Test func nDCGWithGradesAndTrecEvalTieOrder() {
        // Scores tie, so trec_eval ranks by descending id: c (grade 0), b (grade 1), a (grade 3).
        let candidates = [ScoredDocument(id: "a", score: 1), ScoredDocument(id: "b", score: 1), ScoredDocument(id: "c", score: 1)]
        let values = TrecEval.evaluate(candidates, judgements: ["a": 3, "b": 1, "c": 0, "d": 2], measures: [.ndcg(cutoff: 10), .reciprocalRank, .averagePrecision, .precision(cutoff: 2), .recall(cutoff: 2)])
        let dcg = 1 / log2(3.0) + 3 / log2(4.0)
        let idcg = 3 / log2(2.0) + 2 / log2(3.0) + 1 / log2(4.0)
        #expect(abs(values[.ndcg(cutoff: 10)]! - dcg / idcg) < 1e-12)
        #expect(values[.reciprocalRank] == 0.5)
        let averagePrecision: Double = (1.0 / 2 + 2.0 / 3) / 3
        #expect(abs(values[.averagePrecision]! - averagePrecision) < 1e-12)
        #expect(values[.precision(cutoff: 2)] == 0.5)
        #expect(abs(values[.recall(cutoff: 2)]! - 1.0 / 3) < 1e-12)
    }

    @Test func scoresEqualAsFloatTie() {
        // 1 + 1e-12 rounds to the same Float as 1: trec_eval sees a tie and puts "b" first.
        let ordered = TrecEval.ordered([ScoredDocument(id: "a", score: 1 + 1e-12), ScoredDocument(id: "b", score: 1)])
        #expect(ordered.map(\.id) == ["b", "a"])
    }

    @Test func measureNames() {
        #expect(Measure("ndcg@10") == .ndcg(cutoff: 10))
        #expect(Measure("ndcg_cut_10") == .ndcg(cutoff: 10))
        #expect(Measure("recip_rank") == .reciprocalRank)
        #expect(Measure("P_5")?.description == "p@5")
        #expect(Measure("recall@0") == nil)
        #expect(Evaluator.standardMeasures().map(\.description) == ["ndcg@10", "map", "recall@100", "mrr"])
    }

    @Test func excludedDocumentsAreRemovedBeforeScoring() {
        let run = Run(["q": [ScoredDocument(id: "x", score: 3), ScoredDocument(id: "rel", score: 2)]])
        let qrels = Qrels(["q": ["rel": 1]])
        #expect(Evaluator.evaluate(run: run, qrels: qrels, measures: [.reciprocalRank]).mean[.reciprocalRank] == 0.5)
        let cleaned = Evaluator.removing(["q": ["x"]], from: run)
        #expect(Evaluator.evaluate(run: cleaned, qrels: qrels, measures: [.reciprocalRank]).mean[.reciprocalRank] == 1)
    }
}

@Suite struct PairwiseMRRTests {
    /// FollowIR's formula: r_new / r_og - 1 when the document moved up (or stayed), 1 - r_og / r_new when it moved down.
    @Test func documentScores() {
        #expect(PairwiseMRR.documentScore(originalRank: 4, changedRank: 4) == 0)
        #expect(PairwiseMRR.documentScore(originalRank: 4, changedRank: 1) == -0.75)
        #expect(PairwiseMRR.documentScore(originalRank: 1, changedRank: 4) == 0.75)
        #expect(PairwiseMRR.documentScore(originalRank: 2, changedRank: 5) == 1 - 2.0 / 5)
    }

    func run(_ query: String, _ scores: [(String, Double)]) -> Run {
        Run([query: scores.map { ScoredDocument(id: $0.0, score: $0.1) }])
    }

    @Test func followIRsOwnExample() {
        // Document "0" lost its relevance; it ranks 4th before the change.
        let original = run("a", [("3", 4), ("2", 3), ("1", 2), ("0", 1)])
        let qrelsOriginal = Qrels(["a": ["0": 1, "1": 1]])
        let qrelsChanged = Qrels(["a": ["0": 0, "1": 1]])
        #expect(PairwiseMRR.changedDocuments(original: qrelsOriginal, changed: qrelsChanged) == ["a": ["0"]])
        #expect(PairwiseMRR.score(original: original, changed: original, originalQrels: qrelsOriginal, changedQrels: qrelsChanged) == 0)
        let promoted = run("a", [("0", 4), ("3", 3), ("2", 2), ("1", 1)])
        #expect(PairwiseMRR.score(original: original, changed: promoted, originalQrels: qrelsOriginal, changedQrels: qrelsChanged) == -0.75)
    }

    @Test func averagedPerQueryThenOverQueries() {
        var original = run("a", [("x", 3), ("y", 2), ("z", 1)])
        original["b"] = [ScoredDocument(id: "u", score: 1)]
        var changed = run("a", [("z", 3), ("y", 2)])   // x dropped out: rank 3 (one past the end)
        changed["b"] = [ScoredDocument(id: "v", score: 2), ScoredDocument(id: "u", score: 1)]
        let qrelsOriginal = Qrels(["a": ["x": 1, "y": 2], "b": ["u": 1], "c": ["w": 1]])
        let qrelsChanged = Qrels(["a": ["x": 0], "b": [:], "c": [:]])
        // a: x 1 -> 3 gives 1 - 1/3, y 2 -> 2 gives 0; b: u 1 -> 2 gives 1 - 1/2; c has no runs and is skipped.
        let perQuery = PairwiseMRR.perQuery(
            original: original, changed: changed,
            changedDocuments: PairwiseMRR.changedDocuments(original: qrelsOriginal, changed: qrelsChanged))
        #expect(perQuery.count == 2)
        let expectedA: Double = (1 - 1.0 / 3) / 2
        #expect(abs(perQuery["a"]! - expectedA) < 1e-12)
        #expect(perQuery["b"] == 0.5)
        let mean = PairwiseMRR.score(original: original, changed: changed, originalQrels: qrelsOriginal, changedQrels: qrelsChanged)
        let expectedMean: Double = (expectedA + 0.5) / 2
        #expect(abs(mean - expectedMean) < 1e-12)
    }

    @Test func tiesKeepTheRunOrder() {
        let ranks = PairwiseMRR.ranks([ScoredDocument(id: "p", score: 1), ScoredDocument(id: "q", score: 1), ScoredDocument(id: "r", score: 2)])
        #expect(ranks == ["r": 1, "p": 2, "q": 3])
    }
}
