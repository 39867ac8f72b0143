import Foundation
import Datasets

/// One candidate after reranking.
public struct RerankResult: Sendable, Hashable, Codable {
    /// Position of the document in the candidate list the reranker was given.
    public var index: Int
    public var documentID: String
    /// Higher is more relevant. The scale is the strategy's own (a probability
    /// for pointwise LLMs, a logit for cross-encoders, a cosine for dense,
    /// a win count for PRP, a rank-derived value for listwise); only the order
    /// is comparable across strategies.
    public var score: Double

    public init(index: Int, documentID: String, score: Double) {
        self.index = index
        self.documentID = documentID
        self.score = score
    }
}

/// A query's candidates in the order a reranker put them, best first.
public struct RankedResults: Sendable, Hashable {
    public var query: Query
    public var results: [RerankResult]
    /// What the strategy had to repair or fall back on for this query (e.g. a
    /// listwise answer that named only some passages), for the caller to report.
    public var warnings: [String]

    public init(query: Query, results: [RerankResult], warnings: [String] = []) {
        self.query = query
        self.results = results
        self.warnings = warnings
    }

    public func top(_ k: Int) -> [RerankResult] { Array(results.prefix(max(0, k))) }
}

/// The one entry point every reranking strategy implements.
///
/// Contract: the result holds every candidate exactly once (never a shortened
/// ranking), best first; an empty candidate list gives an empty result; two
/// candidates with the same id are an error, since scores are keyed by id.
public protocol Reranker: Sendable {
    /// Stable name of the strategy, e.g. "pointwise", written in reports and cache keys.
    var name: String { get }
    func rerank(query: Query, candidates: [Document]) async throws -> RankedResults
}

extension Reranker {
    /// Checks the contract's preconditions on the input.
    public func validate(query: Query, candidates: [Document]) throws {
        if query.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw RerankingError.emptyQuery(queryID: query.id)
        }
        var seen = Set<String>()
        for document in candidates where !seen.insert(document.id).inserted {
            throw RerankingError.duplicateDocument(queryID: query.id, documentID: document.id)
        }
    }
}

/// Orders scored candidates best first; equal scores keep their input order so
/// that a reranker that cannot separate two documents leaves the first stage's
/// decision in place.
public func rankByScore(_ scores: [Double], candidates: [Document]) -> [RerankResult] {
    precondition(scores.count == candidates.count)
    let order = scores.indices.sorted { a, b in
        scores[a] != scores[b] ? scores[a] > scores[b] : a < b
    }
    return order.map { RerankResult(index: $0, documentID: candidates[$0].id, score: scores[$0]) }
}
