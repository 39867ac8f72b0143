import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import LimRankCLI
import Datasets
import Evaluation
import RemoteModels

/// The hand-made collections of the Datasets tests, read in place.
enum Collections {
    static func path(_ name: String) -> String {
        Assets.repoRoot.appendingPathComponent("Tests/DatasetsTests/Fixtures").appendingPathComponent(name).path
    }
}

func temporaryFile(_ name: String, _ contents: String? = nil) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    if let contents { try contents.write(to: url, atomically: true, encoding: .utf8) }
    return url
}

/// Parses like the `limrank` binary does (validate() included), then runs the evaluation in process.
func evaluate(_ arguments: [String]) async throws -> EvalCommand.Result {
    let command = try EvalCommand.parse(arguments)
    return try await command.evaluate()
}

/// The JSON object `eval --format json` prints, decoded back.
func printedJSON(_ result: EvalCommand.Result) throws -> [String: Any] {
    let json = try EvalCommand.json(result)
    #expect(!json.contains("\n"))
    return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

@Suite struct EvalCommandTests {
    @Test func beirWithBM25PrintsTheContractObject() async throws {
        let result = try await evaluate(["--dataset", "beir", "--data", Collections.path("beir"), "--retriever", "bm25", "--format", "json"])
        let object = try printedJSON(result)
        #expect(object["dataset"] as? String == "beir")
        #expect(object["queries"] as? Int == 2)
        let metrics = try #require(object["metrics"] as? [String: Double])
        #expect(Set(metrics.keys) == ["ndcg@10", "map", "recall@100", "mrr"])
        // "what prevents scurvy" finds d1 first, "sailors disease" finds d2 first: both relevant.
        #expect(metrics["mrr"] == 1)
        // Each query finds half its relevant documents: q1's document 3 ("Citrus fruits contain
        // ascorbic acid") shares no term with it, and q2's d404 is judged but not in the corpus.
        #expect(metrics["recall@100"] == 0.5)
    }

    @Test func recallCutoffFollowsTopK() async throws {
        let result = try await evaluate(["--dataset", "beir", "--data", Collections.path("beir"), "--retriever", "bm25", "--top-k", "1"])
        #expect(Set(result.metrics.keys) == ["ndcg@10", "map", "recall@1", "mrr"])
    }

    @Test func runFileIsScoredLikeTheLibrary() async throws {
        let runText = "1 Q0 2 1 3.0 t\n1 Q0 1 2 2.0 t\n2 Q0 4 1 1.0 t\n2 Q0 2 2 0.5 t\n"
        let runFile = try temporaryFile("cran.run", runText)
        let result = try await evaluate(["--dataset", "cranfield", "--data", Collections.path("cranfield"), "--run", runFile.path])
        let collection = try CranfieldDataset.load(directory: URL(fileURLWithPath: Collections.path("cranfield")))
        let report = Evaluator.evaluate(
            run: try TRECFormat.readRun(from: runFile), qrels: collection.qrels,
            measures: Evaluator.standardMeasures(), unretrieved: .countAsZero)
        // Query 3 has judgements but no run entry: it counts 0 and stays in the mean.
        #expect(result.queries == 3)
        #expect(result.metrics["map"] == report.mean[.averagePrecision])
        #expect(result.metrics["ndcg@10"] == report.mean[.ndcg(cutoff: 10)])
        // Query 1: relevant 1 (gain 4) at rank 2, 2 (gain 1) at rank 1. Query 2: 2 (gain 3) at rank 2.
        let mrr: Double = (1 + 0.5 + 0) / 3
        #expect(abs((result.metrics["mrr"] ?? -1) - mrr) < 1e-12)
    }

    /// --max-queries on a run of the whole collection scores the kept queries
    /// only; the run's other queries are the collection's, not unknown ones.
    @Test func runOfAllQueriesScoredOnTheFirstN() async throws {
        let runText = "1 Q0 2 1 3.0 t\n1 Q0 1 2 2.0 t\n2 Q0 4 1 1.0 t\n2 Q0 2 2 0.5 t\n"
        let runFile = try temporaryFile("cran-all.run", runText)
        let result = try await evaluate(["--dataset", "cranfield", "--data", Collections.path("cranfield"), "--run", runFile.path,
                                         "--max-queries", "1"])
        #expect(result.queries == 1)
        // Query 1 alone: relevant 2 at rank 1.
        #expect(result.metrics["mrr"] == 1)
    }

    @Test func runNamingAnUnknownQueryFails() async throws {
        let runFile = try temporaryFile("bad.run", "1 Q0 2 1 3.0 t\n77 Q0 1 1 2.0 t\n")
        await #expect(throws: DatasetError.unknownQuery(file: runFile.path, line: 2, id: "77")) {
            _ = try await evaluate(["--dataset", "cranfield", "--data", Collections.path("cranfield"), "--run", runFile.path])
        }
    }

    @Test func followIRReportsPairwiseMRR() async throws {
        // n2 stops being relevant under the changed instruction; it drops from rank 1 to rank 2: 1 - 1/2.
        let runFile = try temporaryFile("followir.run", """
            301-og Q0 n2 1 2.0 t
            301-og Q0 n1 2 1.0 t
            301-changed Q0 n1 1 2.0 t
            301-changed Q0 n2 2 1.0 t

            """)
        let result = try await evaluate(["--dataset", "followir", "--data", Collections.path("followir"), "--run", runFile.path, "--format", "json"])
        #expect(result.metrics["p-mrr"] == 0.5)
        // Standard metrics use the original instruction: n2 and n1 are both relevant there.
        #expect(result.metrics["map"] == 1)
        #expect(result.queries == 1)
    }

    @Test func followIRWithBM25HasBothRankings() async throws {
        let runOut = try temporaryFile("followir-bm25.run")
        let result = try await evaluate(["--dataset", "followir", "--data", Collections.path("followir"), "--retriever", "bm25", "--run-out", runOut.path])
        let run = try TRECFormat.readRun(from: runOut)
        #expect(Set(run.queryIDs) == ["301-og", "301-changed"])
        // n2 is relevant only under the original instruction. BM25 ranks it first under both: it
        // matches "hurricane damage", and the changed instruction adds "insurance claims", which it
        // also contains. Unchanged rank 1 -> 1 gives p-MRR 1/1 - 1 = 0.
        let first = run.rankings.mapValues { ranking in ranking.max { $0.score < $1.score }?.id }
        #expect(first["301-og"] == "n2")
        #expect(first["301-changed"] == "n2")
        #expect(result.metrics["p-mrr"] == 0)
    }

    @Test func brightExcludedDocumentsAreDroppedBeforeScoring() async throws {
        // Query 1 excludes bio_1.txt; without the exclusion its relevant bio_2.txt would be rank 2.
        let runFile = try temporaryFile("bright.run", """
            0 Q0 bio_3.txt 1 2.0 t
            1 Q0 bio_1.txt 1 2.0 t
            1 Q0 bio_2.txt 2 1.0 t

            """)
        let result = try await evaluate(["--dataset", "bright", "--data", Collections.path("bright"), "--subset", "biology", "--run", runFile.path])
        #expect(result.dataset == "bright/biology")
        #expect(result.metrics["mrr"] == 1)
    }

    @Test func smartCollection() async throws {
        let runOut = try temporaryFile("smart-bm25.run")
        let result = try await evaluate([
            "--dataset", "smart", "--docs", Collections.path("smart/docs.txt"), "--queries", Collections.path("smart/queries.txt"),
            "--qrels", Collections.path("smart/qrels.txt"), "--retriever", "bm25", "--run-out", runOut.path,
        ])
        #expect(result.queries == 2)
        let run = try TRECFormat.readRun(from: runOut)
        let first = run.rankings.mapValues { ranking in ranking.max { $0.score < $1.score }?.id }
        // "sorting on magnetic tape" finds its one relevant document, 3, first; the algebraic
        // languages query finds document 1 (relevant) first: both reciprocal ranks are 1.
        #expect(first["2"] == "3")
        #expect(first["1"] == "1")
        #expect(result.metrics["mrr"] == 1)
    }

    @Test func tableIsReadable() {
        let table = EvalCommand.table(.init(dataset: "cranfield", queries: 225, metrics: ["mrr": 0.5, "ndcg@10": 0.25, "map": 0.125, "recall@100": 0.75]))
        #expect(table == """
            dataset     cranfield
            queries     225
            ----------------------
            ndcg@10     0.2500
            map         0.1250
            recall@100  0.7500
            mrr         0.5000
            """)
    }

    /// --concurrency below 1 is refused with the flag named; above 1 it is for server models only.
    @Test func concurrencyMustBePositiveAndRemote() throws {
        let data = Collections.path("cranfield")
        let base = ["--dataset", "cranfield", "--data", data, "--retriever", "bm25", "--reranker", "pointwise"]
        let server = ["--model", "http://127.0.0.1:9/v1#m"]
        for n in ["0", "-2"] {
            do {
                _ = try EvalCommand.parse(base + server + ["--concurrency=" + n])
                Issue.record("--concurrency \(n) was accepted")
            } catch {
                #expect(EvalCommand.message(for: error).contains("--concurrency must be at least 1"), "\(error)")
            }
        }
        #expect(throws: (any Error).self) { _ = try EvalCommand.parse(base + ["--concurrency", "4"]) }
        let parsed = try EvalCommand.parse(base + server + ["--concurrency", "4"])
        #expect(parsed.rerankerOptions.concurrency == 4)
    }

    /// serve --parallel below 1 is refused with the flag named; it defaults to 8.
    @Test func serveParallelMustBePositive() throws {
        let base = ["--reranker", "none", "--generation-model", "smollm2"]
        for n in ["0", "-1"] {
            do {
                _ = try ServeCommand.parse(base + ["--parallel=" + n])
                Issue.record("--parallel \(n) was accepted")
            } catch {
                #expect(ServeCommand.message(for: error).contains("--parallel must be at least 1"), "\(error)")
            }
        }
        #expect(try ServeCommand.parse(base).parallel == 8)
        #expect(try ServeCommand.parse(base + ["--parallel", "1"]).parallel == 1)
    }

    /// The progress line of a server run: passages/s from passages done,
    /// requests in flight and tokens/s from the model's monitor, ETA from the rest.
    @Test func progressLineReportsRateInFlightTokensAndETA() {
        var requests = RequestMonitor.Snapshot()
        requests.inFlight = 8
        requests.promptTokens = 9000
        requests.completionTokens = 1000
        let line = RerankDriver.progressLine(done: 3, queries: 10, passages: 60, total: 200, elapsed: 10, requests: requests)
        #expect(line.hasPrefix("reranked 3/10 queries, 60/200 passages, 6.0 passages/s, 8 requests in flight, 1000 tokens/s (100 generated)"), "\(line)")
        // 140 passages left at 6 per second.
        #expect(line.contains("ETA 23s"), "\(line)")
        let local = RerankDriver.progressLine(done: 10, queries: 10, passages: 200, total: 200, elapsed: 10, requests: nil)
        #expect(!local.contains("in flight") && !local.contains("ETA"), "\(local)")
    }

    @Test func badOptionCombinationsAreRejected() {
        let data = Collections.path("cranfield")
        let rejected: [[String]] = [
            ["--dataset", "cranfield", "--retriever", "bm25"],                                       // no --data
            ["--dataset", "cranfield", "--data", data],                                             // neither --retriever nor --run
            ["--dataset", "cranfield", "--data", data, "--retriever", "bm25", "--run", "x.run"],    // both
            ["--dataset", "cranfield", "--data", data, "--run", "x.run", "--run-out", "y.run"],
            ["--dataset", "cranfield", "--data", data, "--retriever", "bm25", "--index", "i", "--k1", "1.2"],
            ["--dataset", "cranfield", "--data", data, "--retriever", "bm25", "--top-k", "0"],
            ["--dataset", "cranfield", "--data", data, "--retriever", "bm25", "--b", "1.5"],
            ["--dataset", "smart", "--data", data, "--retriever", "bm25"],
            ["--dataset", "bright", "--data", data, "--retriever", "bm25"],                       // no --subset
            ["--dataset", "cranfield", "--data", data, "--subset", "x", "--retriever", "bm25"],
            ["--dataset", "trec", "--data", data, "--retriever", "bm25"],
        ]
        for arguments in rejected {
            #expect(throws: (any Error).self, "\(arguments)") { _ = try EvalCommand.parse(arguments) }
        }
        #expect(throws: Never.self) { _ = try EvalCommand.parse(["--dataset", "cranfield", "--data", data, "--retriever", "bm25"]) }
    }

    @Test func missingCollectionNamesTheFile() async throws {
        await #expect(throws: DatasetError.missingFile(path: "/nonexistent/cran.all.1400")) {
            _ = try await evaluate(["--dataset", "cranfield", "--data", "/nonexistent", "--retriever", "bm25"])
        }
    }
}

@Suite struct IndexAndRetrieveTests {
    @Test func savedIndexGivesTheSameRunAsAnInMemoryOne() async throws {
        let directory = try temporaryFile("index")
        let data = Collections.path("beir")
        let index = try IndexCommand.parse(["--dataset", "beir", "--data", data, "--index-out", directory.path, "--k1", "1.2", "--b", "0.75"])
        try await index.run()
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("bm25.index").path))

        let fromIndex = try temporaryFile("a.run"), inMemory = try temporaryFile("b.run")
        var retrieve = try RetrieveCommand.parse(["--dataset", "beir", "--data", data, "--index", directory.path, "--top-k", "2", "--run-out", fromIndex.path])
        try await retrieve.run()
        retrieve = try RetrieveCommand.parse(["--dataset", "beir", "--data", data, "--k1", "1.2", "--b", "0.75", "--top-k", "2", "--run-out", inMemory.path])
        try await retrieve.run()
        let a = try TRECFormat.readRun(from: fromIndex), b = try TRECFormat.readRun(from: inMemory)
        #expect(a == b)
        // --top-k 2 caps q1 (d1 and d2 match it); q2 matches d2 alone.
        #expect(a.rankings["q1"]?.count == 2)
        #expect(a.rankings["q2"]?.count == 1)
    }

    @Test func indexOfAnotherCollectionIsRejected() async throws {
        let directory = try temporaryFile("index")
        let index = try IndexCommand.parse(["--dataset", "beir", "--data", Collections.path("beir"), "--index-out", directory.path])
        try await index.run()
        let retrieve = try RetrieveCommand.parse([
            "--dataset", "cranfield", "--data", Collections.path("cranfield"), "--index", directory.path, "--run-out", directory.appendingPathComponent("x.run").path,
        ])
        await #expect(throws: (any Error).self) { try await retrieve.run() }
    }
}

/// Real Cranfield, through the same code path as `limrank eval`.
@Suite struct CranfieldEvalTests {
    /// `limrank eval --retriever bm25` must score as Lucene's own run does
    /// (Anserini 1.1.1, BM25 k1 0.9 b 0.4, top-100, in
    /// Tests/RetrievalTests/Fixtures/lucene_cranfield_top100.tsv, written by
    /// Scripts/fixtures/make_lucene_fixture.py). The bound is the issue's;
    /// it leaves room only for float32 ties broken differently.
    static let luceneMetricBound = 1e-4
    static let fixture = Assets.repoRoot.appendingPathComponent("Tests/EvaluationTests/Fixtures")
    static let luceneRun = Assets.repoRoot.appendingPathComponent("Tests/RetrievalTests/Fixtures/lucene_cranfield_top100.tsv")

    static func pytrecMean(_ measure: String) throws -> Double {
        struct File: Decodable { var per_query: [String: [String: Double]] }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: fixture.appendingPathComponent("cranfield_bm25.expected.json")))
        return file.per_query.values.reduce(0.0) { $0 + ($1[measure] ?? .nan) } / Double(file.per_query.count)
    }

    /// Lucene's run (qid, docid, score lines) as a TREC run file.
    static func luceneRunFile() throws -> URL {
        var out = ""
        var rank: [Substring: Int] = [:]
        for line in try String(contentsOf: luceneRun, encoding: .utf8).split(separator: "\n") {
            let f = line.split(separator: "\t")
            try #require(f.count == 3, "bad line in \(luceneRun.path): \(line)")
            rank[f[0], default: 0] += 1
            out += "\(f[0]) Q0 \(f[1]) \(rank[f[0]] ?? 0) \(f[2]) lucene\n"
        }
        return try temporaryFile("lucene.run", out)
    }

    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func bm25OnCranfieldScoresAsLucenesRun() async throws {
        let result = try await evaluate(["--dataset", "cranfield", "--data", Assets.cranfield.path, "--retriever", "bm25", "--format", "json"])
        let object = try printedJSON(result)
        #expect(object["dataset"] as? String == "cranfield")
        #expect(object["queries"] as? Int == 225)
        let lucene = try await evaluate(["--dataset", "cranfield", "--data", Assets.cranfield.path, "--run", Self.luceneRunFile().path])
        print("cranfield bm25: \(try EvalCommand.json(result)); Lucene's run: \(try EvalCommand.json(lucene))")
        #expect(lucene.queries == 225)
        for measure in ["ndcg@10", "map", "recall@100", "mrr"] {
            let ours = try #require(result.metrics[measure]), theirs = try #require(lucene.metrics[measure])
            #expect(abs(ours - theirs) <= Self.luceneMetricBound, "\(measure): \(ours), Lucene \(theirs)")
        }
    }

    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func bm25sFixtureRunScoresLikePytrecEval() async throws {
        let result = try await evaluate([
            "--dataset", "cranfield", "--data", Assets.cranfield.path, "--run", Self.fixture.appendingPathComponent("cranfield_bm25.run").path,
        ])
        for (ours, theirs) in [("ndcg@10", "ndcg_cut_10"), ("map", "map"), ("recall@100", "recall_100"), ("mrr", "recip_rank")] {
            #expect(abs((result.metrics[ours] ?? .nan) - (try Self.pytrecMean(theirs))) <= 1e-6, "\(ours)")
        }
    }
}
