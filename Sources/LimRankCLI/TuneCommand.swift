import Synchronization
import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Reranking

/// `limrank tune`: picks a reranker's fusion with BM25 on held-out
/// pseudo-queries (`synthesize --corpus --validation-fraction`), so the
/// setting is chosen before any of a collection's own queries is looked at.
struct TuneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Choose --fuse (interpolate:LAMBDA or rrf:K) on synthetic validation queries only.",
        discussion: """
            Reads only --validation, the BEIR directory `limrank synthesize --corpus \
            --validation-fraction F` writes (the collection's documents, held-out \
            pseudo-queries, each query's source document its only relevant one); a \
            collection's own queries and qrels are never opened. Reranks BM25's top \
            --depth once, then scores the reranker alone, every interpolate:LAMBDA and \
            every rrf:K of the grids through the same fusion `eval --fuse` uses, and \
            prints the table and the best setting by --metric (ties: the first in the \
            table).

            Example:
              limrank synthesize --corpus --dataset cranfield --data data/cranfield --query-source title \\
                --target 1000 --validation-fraction 0.2 --out syn
              limrank tune --validation syn/validation --reranker dense --model minilm --format json
            """)

    @Option(help: ArgumentHelp("Synthetic validation directory (BEIR layout) from synthesize --validation-fraction.", valueName: "dir"))
    var validation: String

    @OptionGroup var bm25: BM25Options
    @OptionGroup var rerankerOptions: RerankerOptions

    @Option(name: .customLong("interpolate-grid"), help: ArgumentHelp("Reranker weights LAMBDA to try, comma-separated, each in [0, 1].", valueName: "list"))
    var interpolateGrid = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1"

    @Option(name: .customLong("rrf-grid"), help: ArgumentHelp("RRF constants K to try, comma-separated, each >= 0.", valueName: "list"))
    var rrfGrid = "1,5,10,20,30,60,100"

    @Option(help: "The metric to maximise: ndcg@10, map, mrr or recall@K (K = --top-k).")
    var metric = "ndcg@10"

    @Option(help: "Documents BM25 retrieves per query, and the K of recall@K.")
    var topK = 100

    @Option(help: "text (a table) or json (one object on stdout).")
    var format: OutputFormat = .text

    func validate() throws {
        guard rerankerOptions.reranker != nil else { throw ValidationError("tune needs --reranker (and its --model) to fuse with BM25") }
        if rerankerOptions.fuse != nil { throw ValidationError("tune chooses --fuse itself; drop --fuse") }
        guard topK > 0 else { throw ValidationError("--top-k must be at least 1") }
        _ = try grid()
        guard Evaluator.standardMeasures(recallCutoff: topK).contains(where: { $0.description == metric }) else {
            throw ValidationError("--metric must be one of: \(Evaluator.standardMeasures(recallCutoff: topK).map(\.description).joined(separator: ", "))")
        }
    }

    /// The settings tried, in table order: the reranker alone, then the grids.
    func grid() throws -> [ScoreFusion] {
        func values(_ list: String, _ method: String) throws -> [ScoreFusion] {
            try list.split(separator: ",").map { item in
                do { return try ScoreFusion(parsing: "\(method):\(item.trimmingCharacters(in: .whitespaces))") } catch {
                    throw ValidationError("--\(method == "rrf" ? "rrf" : "interpolate")-grid: \(error)")
                }
            }
        }
        return try values(interpolateGrid, "interpolate") + values(rrfGrid, "rrf")
    }

    struct Row: Encodable, Equatable {
        /// "bm25", "reranker" (alone) or the --fuse spelling.
        var setting: String
        var metrics: [String: Double]
    }

    struct Result: Encodable, Equatable {
        var validation: String
        var queries: Int
        var reranker: String
        var model: String?
        var depth: Int
        var metric: String
        var rows: [Row]
        /// The best row's setting: a --fuse value, or "reranker" / "bm25" when fusing does not help.
        var chosen: String
    }

    func run() async throws {
        let result = try await tune()
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        case .text: print(Self.table(result))
        }
    }

    func tune() async throws -> Result {
        // Only the synthetic validation set: its queries are pseudo-queries, never a collection's.
        let collection = try BEIRDataset.load(directory: URL(fileURLWithPath: validation))
        for warning in collection.warnings { Log.write(warning.description) }
        Log.write("tune: \(validation): \(collection.documents.count) documents, \(collection.queries.count) synthetic queries")
        let index = try bm25.index(for: collection)
        let firstStage = await BM25Runs.run(index, collection: collection, topK: topK)
        guard let base = try rerankerOptions.make() else { throw ValidationError("tune needs --reranker") }
        // Each setting reranks the same candidates: the model runs once, later passes replay its results.
        let reranker = ReplayingReranker(base: base)
        let measures = Evaluator.standardMeasures(recallCutoff: topK)
        func score(_ run: Run) -> [String: Double] {
            let report = Evaluator.evaluate(run: run, qrels: collection.qrels, measures: measures, unretrieved: .countAsZero)
            return Dictionary(uniqueKeysWithValues: measures.map { ($0.description, report.mean[$0] ?? 0) })
        }
        var rows = [Row(setting: "bm25", metrics: score(firstStage))]
        for fusion in [nil] + (try grid()).map(Optional.some) {
            let outcome = try await RerankDriver.rerank(firstStage, collection: collection, reranker: reranker, depth: rerankerOptions.depth,
                                                        concurrency: rerankerOptions.concurrency, fusion: fusion)
            rows.append(Row(setting: fusion?.description ?? "reranker", metrics: score(outcome.run)))
        }
        var best = rows[0]
        for row in rows.dropFirst() where (row.metrics[metric] ?? 0) > (best.metrics[metric] ?? 0) { best = row }
        return Result(validation: validation, queries: collection.qrels.judgements.count, reranker: rerankerOptions.reranker?.rawValue ?? "",
                      model: rerankerOptions.modelName, depth: rerankerOptions.depth, metric: metric, rows: rows, chosen: best.setting)
    }

    static func table(_ result: Result) -> String {
        let names = ["ndcg@10", "map", "mrr"] + (result.rows.first?.metrics.keys.filter { $0.hasPrefix("recall@") }.sorted() ?? [])
        var lines = ["validation  \(result.validation) (\(result.queries) synthetic queries)",
                     "reranker    \(result.reranker) (\(result.model ?? "?"), depth \(result.depth))",
                     "setting".padding(toLength: 18, withPad: " ", startingAt: 0) + names.map { $0.padding(toLength: 11, withPad: " ", startingAt: 0) }.joined()]
        for row in result.rows {
            let mark = row.setting == result.chosen ? " <" : ""
            lines.append(row.setting.padding(toLength: 18, withPad: " ", startingAt: 0)
                + names.map { String(format: "%.4f", row.metrics[$0] ?? 0).padding(toLength: 11, withPad: " ", startingAt: 0) }.joined() + mark)
        }
        lines.append("chosen      \(result.chosen) (best \(result.metric))"
            + (result.chosen.contains(":") ? ": eval/rerank/serve --fuse \(result.chosen)" : ""))
        return lines.joined(separator: "\n")
    }
}

/// Runs the wrapped reranker once per query and hands back the same results
/// afterwards, so that trying many fusions costs one reranking.
struct ReplayingReranker: Reranker {
    let base: any Reranker
    let memory = Memory()

    final class Memory: Sendable {
        let results = Mutex<[String: RankedResults]>([:])
    }

    var name: String { base.name }

    func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        let key = query.id + "\u{1}" + candidates.map(\.id).joined(separator: "\u{1}")
        if let known = memory.results.withLock({ $0[key] }) { return known }
        let ranked = try await base.rerank(query: query, candidates: candidates)
        memory.results.withLock { $0[key] = ranked }
        return ranked
    }
}
