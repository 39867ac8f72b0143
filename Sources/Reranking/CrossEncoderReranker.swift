import Datasets
import LanguageModels

/// Cross-encoder reranking: a BERT sequence classifier reads query and
/// passage together and its logit is the score.
public struct CrossEncoderReranker: Reranker {
    public var scorer: any PairScorer
    public var name: String { "cross-encoder" }

    public init(scorer: any PairScorer) {
        self.scorer = scorer
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        guard !candidates.isEmpty else { return RankedResults(query: query, results: []) }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        let logits = try await scorer.score(query: queryText, passages: candidates.map(\.contents))
        guard logits.count == candidates.count else {
            throw RerankingError.modelOutput(model: scorer.identifier, reason: "returned \(logits.count) scores for \(candidates.count) passages")
        }
        return RankedResults(query: query, results: rankByScore(logits.map(Double.init), candidates: candidates))
    }
}
