import ArgumentParser
import Datasets
import Evaluation
import Foundation
import RemoteModels

/// `limrank eval`: retrieve (or read a run) and score it as trec_eval would.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate BM25 (or an existing run file) on a collection: nDCG@10, MAP, Recall@K, MRR.",
        discussion: """
            Either retrieves with --retriever bm25 or scores the run given with --run. Metrics \
            are computed exactly as trec_eval / pytrec_eval compute ndcg_cut_10, map, \
            recall_K and recip_rank (K = --top-k, default 100), per query, then averaged over \
            every judged query: a judged query the run has no entry for counts 0 \
            (trec_eval -c). Queries without judgements are not scored. For bright, each \
            query's excluded_ids are removed from the run first; for followir the metrics use \
            the original instructions and p-mrr (FollowIR's pairwise MRR, in [-1, 1]) compares \
            the `<qid>-og` and `<qid>-changed` rankings.

            --format json prints exactly one JSON object on stdout:
              {"dataset": "cranfield", "queries": 225, "metrics": {"ndcg@10": ..., "map": ..., "recall@100": ..., "mrr": ...}}

            Examples:
              limrank eval --dataset cranfield --data data/cranfield --retriever bm25 --format json
              limrank eval --dataset beir --data data/scifact --run runs/scifact.txt
            """)

    enum Retriever: String, ExpressibleByArgument, CaseIterable, Sendable {
        case bm25
    }

    @OptionGroup var datasetOptions: DatasetOptions
    @OptionGroup var bm25: BM25Options
    @OptionGroup var rerankerOptions: RerankerOptions

    @Option(help: "The first-stage retriever to evaluate (bm25). Not with --run.")
    var retriever: Retriever?

    @Option(help: ArgumentHelp("Evaluate this TREC run file instead of retrieving.", valueName: "file"))
    var run: String?

    @Option(help: ArgumentHelp("Also write the retrieved run here (with --retriever).", valueName: "file"))
    var runOut: String?

    @Option(help: "Documents retrieved per query, and the K of recall@K.")
    var topK: Int = 100

    @Option(help: "text (a table) or json (one object on stdout).")
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp(
        "Keep only the first N judged queries, in the collection's order (a quick look at a slow reranker; the metrics then average over those N).",
        valueName: "n"))
    var maxQueries: Int?

    func validate() throws {
        switch (retriever, run) {
        case (nil, nil): throw ValidationError("give --retriever bm25 to retrieve, or --run FILE to score an existing run")
        case (.some, .some): throw ValidationError("--retriever and --run exclude each other")
        default: break
        }
        if run != nil, runOut != nil, rerankerOptions.reranker == nil {
            throw ValidationError("--run-out writes the retrieved or reranked run; with --run it needs --reranker")
        }
        if run != nil, bm25.index != nil || bm25.k1 != nil || bm25.b != nil {
            throw ValidationError("--index/--k1/--b configure --retriever bm25; they do nothing with --run")
        }
        guard topK > 0 else { throw ValidationError("--top-k must be at least 1") }
        if let maxQueries {
            guard maxQueries > 0 else { throw ValidationError("--max-queries must be at least 1") }
            if datasetOptions.dataset == .followir {
                throw ValidationError("--max-queries is not available for followir (its queries come in original/changed pairs)")
            }
        }
    }

    /// The values `eval` prints.
    struct Result: Encodable, Equatable {
        var dataset: String
        var queries: Int
        var metrics: [String: Double]
        /// Present when a reranker ran.
        var reranker: String?
        var model: String?
        var depth: Int?
        var docsPerSecond: Double?
        /// --fuse, when given.
        var fusion: String?

        enum CodingKeys: String, CodingKey {
            case dataset, queries, metrics, reranker, model, depth, fusion
            case docsPerSecond = "docs_per_s"
        }
    }

    func run() async throws {
        let result = try await evaluate()
        switch format {
        case .json: print(try Self.json(result))
        case .text: print(Self.table(result))
        }
    }

    func evaluate() async throws -> Result {
        var collection = try datasetOptions.load()
        // A run names queries of the whole collection; --max-queries keeps some of them.
        let runQueryIDs = BM25Runs.runQueryIDs(collection)
        var keptIDs: Set<String>?
        if let maxQueries {
            let kept = collection.queries.filter { !collection.qrels[$0.id].isEmpty }.prefix(maxQueries)
            let ids = Set(kept.map(\.id))
            keptIDs = ids
            collection.queries = Array(kept)
            collection.qrels = Qrels(collection.qrels.judgements.filter { ids.contains($0.key) })
            Log.write("evaluating the first \(kept.count) judged queries only (--max-queries)")
        }
        var scored: Run
        if let path = run {
            scored = try TRECFormat.readRun(from: URL(fileURLWithPath: path), knownQueries: runQueryIDs)
        } else {
            let index = try bm25.index(for: collection)
            scored = await BM25Runs.run(index, collection: collection, topK: topK)
            if let runOut, rerankerOptions.reranker == nil {
                try TRECFormat.writeRun(scored, to: URL(fileURLWithPath: runOut))
                Log.write("wrote \(runOut)")
            }
        }
        if let keptIDs { scored.rankings = scored.rankings.filter { keptIDs.contains($0.key) } }
        var reranking: RerankDriver.Outcome?
        let monitor = RequestMonitor()
        if let reranker = try rerankerOptions.make(brightSubset: datasetOptions.dataset == .bright ? datasetOptions.subset : nil, monitor: monitor) {
            let outcome = try await RerankDriver.rerank(scored, collection: collection, reranker: reranker, depth: rerankerOptions.depth,
                                                        concurrency: rerankerOptions.concurrency,
                                                        monitor: rerankerOptions.serverModel == nil ? nil : monitor,
                                                        fusion: rerankerOptions.fusion)
            scored = outcome.run
            reranking = outcome
            if let runOut {
                try TRECFormat.writeRun(scored, to: URL(fileURLWithPath: runOut))
                Log.write("wrote \(runOut) (reranked)")
            }
        }
        var pMRR: Double?
        if let change = collection.instructionChange {
            let (original, changed) = BM25Runs.split(scored)
            pMRR = PairwiseMRR.score(original: original, changed: changed, originalQrels: collection.qrels, changedQrels: change.qrels)
            scored = original
        }
        scored = Evaluator.removing(collection.excludedDocuments, from: scored)
        let measures = Evaluator.standardMeasures(recallCutoff: topK)
        let report = Evaluator.evaluate(run: scored, qrels: collection.qrels, measures: measures, unretrieved: .countAsZero)
        if !report.unretrievedQueries.isEmpty {
            Log.write("warning: \(report.unretrievedQueries.count) judged queries have no entry in the run and count 0 (first: \(report.unretrievedQueries[0]))")
        }
        var metrics = Dictionary(uniqueKeysWithValues: measures.map { ($0.description, report.mean[$0] ?? 0) })
        if let pMRR { metrics["p-mrr"] = pMRR }
        var result = Result(dataset: datasetOptions.displayName, queries: report.queryCount, metrics: metrics)
        if let reranking, let kind = rerankerOptions.reranker {
            result.reranker = kind.rawValue
            result.model = rerankerOptions.modelName
            result.depth = rerankerOptions.depth
            result.docsPerSecond = reranking.docsPerSecond
            result.fusion = rerankerOptions.fusion?.description
        }
        return result
    }

    static func json(_ result: Result) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(result), as: UTF8.self)
    }

    static func table(_ result: Result) -> String {
        let order = ["ndcg@10", "map", "recall@", "mrr", "p-mrr"]
        func position(_ name: String) -> Int {
            order.firstIndex(of: name) ?? (name.hasPrefix("recall@") ? 2 : order.count)
        }
        let names = result.metrics.keys.sorted { a, b in
            position(a) != position(b) ? position(a) < position(b) : a < b
        }
        var lines = ["dataset     \(result.dataset)", "queries     \(result.queries)"]
        if let reranker = result.reranker {
            lines.append("reranker    \(reranker) (\(result.model ?? "?"), depth \(result.depth ?? 0), \(String(format: "%.1f", result.docsPerSecond ?? 0)) docs/s)")
            if let fusion = result.fusion { lines.append("fusion      \(fusion) with the first stage") }
        }
        lines.append(String(repeating: "-", count: 22))
        for name in names {
            let padded = name.padding(toLength: 12, withPad: " ", startingAt: 0)
            lines.append(padded + String(format: "%.4f", result.metrics[name] ?? 0))
        }
        return lines.joined(separator: "\n")
    }
}
