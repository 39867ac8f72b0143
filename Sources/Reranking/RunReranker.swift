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
    /// Called after each query with (done, total); the CLI prints it on stderr.
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// Sees each query's `RankedResults.warnings` (when there are any).
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
        let queriesByID = Dictionary(queries.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for queryID in run.queryIDs where queriesByID[queryID] == nil {
            throw RerankingError.unknownQuery(queryID: queryID)
        }
        var output = Run(tag: run.tag + "+" + reranker.name + (fusion.map { "+" + $0.description } ?? ""))
        let ids = run.queryIDs
        for (done, queryID) in ids.enumerated() {
            let ranking = run[queryID]
            let head = Array(ranking.prefix(depth))
            let candidates = try head.map { scored -> Document in
                guard let document = documents[scored.id] else {
                    throw RerankingError.unknownDocument(queryID: queryID, documentID: scored.id)
                }
                return document
            }
            let ranked = try await reranker.rerank(query: queriesByID[queryID]!, candidates: candidates)
            if !ranked.warnings.isEmpty { onWarnings?(queryID, ranked.warnings) }
            guard ranked.results.count == candidates.count else {
                throw RerankingError.modelOutput(
                    model: reranker.name,
                    reason: "returned \(ranked.results.count) of \(candidates.count) candidates for query \(queryID)")
            }
            let results = fusion.map { $0.fuse(ranked.results, firstStage: head.map(\.score)) } ?? ranked.results
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
            progress?(done + 1, ids.count)
        }
        return output
    }
}
