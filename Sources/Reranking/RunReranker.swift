import Datasets
import Foundation

/// Reranks the head of every ranking in a first-stage run.
///
/// The top `depth` candidates of each query are reordered by the reranker;
/// the ones below keep their first-stage order and are placed after them with
/// scores strictly below the lowest reranked score, so the output run is as
/// long as the input and still sorts correctly by score alone. Exact ties in
/// the reranker's scores are split by the smallest representable step, keeping
/// the reranker's order: trec_eval would otherwise re-sort tied documents by
/// id and evaluate an order nobody produced.
public struct RunReranker: Sendable {
    public var reranker: any Reranker
    public var depth: Int
    /// Queries reranked at once (over HTTP; the model's request limit bounds
    /// the requests they put in flight). Output, warnings and their order do
    /// not depend on it.
    public var concurrency: Int = 1
    /// Called after each query with (done, total); the CLI prints it on stderr.
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// Called after each query with its number of reranked candidates.
    public var onQueryDone: (@Sendable (Int) -> Void)?
    /// Sees each query's `RankedResults.warnings` (when there are any), in
    /// the run's query order whatever order the queries finished in.
    public var onWarnings: (@Sendable (String, [String]) -> Void)?
    /// When set, the head is ordered by the fusion of the reranker's and the
    /// run's scores instead of the reranker's alone (the written scores are
    /// the fused ones).
    public var fusion: ScoreFusion?

    public init(reranker: any Reranker, depth: Int, progress: (@Sendable (Int, Int) -> Void)? = nil) {
        self.reranker = reranker
        self.depth = depth
        self.progress = progress
    }

    public func rerank(run: Run, queries: [Query], documents: [String: Document]) async throws -> Run {
        guard depth > 0 else {
            throw RerankingError.invalidParameter(name: "depth", reason: "must be at least 1, got \(depth)")
        }
        guard concurrency > 0 else {
            throw RerankingError.invalidParameter(name: "concurrency", reason: "must be at least 1, got \(concurrency)")
        }
        let queriesByID = Dictionary(queries.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for queryID in run.queryIDs where queriesByID[queryID] == nil {
            throw RerankingError.unknownQuery(queryID: queryID)
        }
        let ids = run.queryIDs
        let heads = try ids.map { queryID in
            try run[queryID].prefix(depth).map { scored -> Document in
                guard let document = documents[scored.id] else {
                    throw RerankingError.unknownDocument(queryID: queryID, documentID: scored.id)
                }
                return document
            }
        }
        let state = RunProgress(ids: ids, onWarnings: onWarnings)
        let (reranker, progress, onQueryDone) = (reranker, progress, onQueryDone)
        let outcomes = await boundedOutcomes(count: ids.count, limit: concurrency) { i -> RankedResults in
            do {
                if await state.abandoned {
                    throw RerankingError.backend(model: reranker.name, reason: "not attempted: \(RunProgress.abandonAfter) queries in a row had failed")
                }
                let ranked = try await reranker.rerank(query: queriesByID[ids[i]]!, candidates: heads[i])
                guard ranked.results.count == heads[i].count else {
                    throw RerankingError.modelOutput(
                        model: reranker.name,
                        reason: "returned \(ranked.results.count) of \(heads[i].count) candidates for query \(ids[i])")
                }
                onQueryDone?(heads[i].count)
                let done = await state.finished(i, warnings: ranked.warnings)
                progress?(done, ids.count)
                return ranked
            } catch {
                await state.finished(i, warnings: [], failed: true)
                throw error
            }
        }
        var failed: [(String, String)] = []
        for (i, outcome) in outcomes.enumerated() {
            if case .failure(let error) = outcome {
                if error is CancellationError { throw error }
                failed.append((ids[i], "\(error)"))
            }
        }
        if !failed.isEmpty {
            throw RerankingError.queriesFailed(queryIDs: failed.map(\.0), total: ids.count, firstError: failed[0].1)
        }
        var output = Run(tag: run.tag + "+" + reranker.name + (fusion.map { "+" + $0.description } ?? ""))
        for (i, queryID) in ids.enumerated() {
            let ranked = try outcomes[i].get()
            let ranking = run[queryID]
            let firstStage = ranking.prefix(depth).map(\.score)
            let results = fusion.map { $0.fuse(ranked.results, firstStage: firstStage) } ?? ranked.results
            var merged: [ScoredDocument] = []
            merged.reserveCapacity(ranking.count)
            for result in results {
                var score = result.score
                if let previous = merged.last?.score, score >= previous { score = previous.nextDown }
                merged.append(ScoredDocument(id: result.documentID, score: score))
            }
            var floor = merged.last?.score ?? 0
            for scored in ranking.dropFirst(depth) {
                floor = floor.nextDown - 1
                merged.append(ScoredDocument(id: scored.id, score: floor))
            }
            output[queryID] = merged
        }
        return output
    }
}

/// Counts finished queries and releases their warnings in query order: a
/// query's warnings are handed out once every query before it has finished.
actor RunProgress {
    private var done = 0
    private var next = 0
    private var pending: [Int: [String]] = [:]
    private var failuresInARow = 0
    /// A server that is down fails every query after its retries; past this
    /// many failures in a row no new query is started (they are reported as
    /// not attempted, and a rerun picks them up).
    static let abandonAfter = 10
    var abandoned: Bool { failuresInARow >= Self.abandonAfter }

    private let ids: [String]
    private let onWarnings: (@Sendable (String, [String]) -> Void)?

    init(ids: [String], onWarnings: (@Sendable (String, [String]) -> Void)?) {
        self.ids = ids
        self.onWarnings = onWarnings
    }

    /// Returns how many queries have finished; hands out (on the actor, so
    /// one at a time) the warnings that are now next in query order.
    @discardableResult
    func finished(_ index: Int, warnings: [String], failed: Bool = false) -> Int {
        failuresInARow = failed ? failuresInARow + 1 : 0
        done += 1
        pending[index] = warnings
        while let warnings = pending.removeValue(forKey: next) {
            if !warnings.isEmpty { onWarnings?(ids[next], warnings) }
            next += 1
        }
        return done
    }
}
