import Datasets
import LanguageModels

/// Bi-encoder reranking: cosine similarity of the query's and each passage's
/// sentence embeddings (all-MiniLM-L6-v2 by default).
public struct DenseReranker: Reranker {
    public var embedder: any TextEmbedder
    public var name: String { "dense" }

    public init(embedder: any TextEmbedder) {
        self.embedder = embedder
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        guard !candidates.isEmpty else { return RankedResults(query: query, results: []) }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        let vectors = try await embedder.embed([queryText] + candidates.map(\.contents))
        guard vectors.count == candidates.count + 1 else {
            throw RerankingError.modelOutput(model: embedder.identifier, reason: "returned \(vectors.count) embeddings for \(candidates.count + 1) texts")
        }
        let q = vectors[0]
        let scores = vectors.dropFirst().map { v in Double(zip(q, v).reduce(0) { $0 + $1.0 * $1.1 }) }
        return RankedResults(query: query, results: rankByScore(Array(scores), candidates: candidates))
    }
}
