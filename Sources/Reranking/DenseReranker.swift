import Datasets
import LanguageModels

/// Bi-encoder reranking: cosine similarity of the query's and each passage's
/// sentence embeddings (all-MiniLM-L6-v2 by default).
///
/// A passage's embedding does not depend on the query, so embeddings are
/// memoised by text: over a whole run each distinct document is encoded once
/// (Cranfield's 22,500 BM25 candidates are 1,400 distinct documents).
public struct DenseReranker: Reranker {
    public var embedder: any TextEmbedder
    public var memo: EmbeddingMemo
    public var name: String { "dense" }

    public init(embedder: any TextEmbedder, memo: EmbeddingMemo = EmbeddingMemo()) {
        self.embedder = embedder
        self.memo = memo
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        guard !candidates.isEmpty else { return RankedResults(query: query, results: []) }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        let texts = candidates.map(\.contents)
        let missing = await memo.missing(Array(Set(texts)).sorted())
        let fresh = try await embedder.embed([queryText] + missing)
        guard fresh.count == missing.count + 1 else {
            throw RerankingError.modelOutput(model: embedder.identifier, reason: "returned \(fresh.count) embeddings for \(missing.count + 1) texts")
        }
        await memo.store(zip(missing, fresh.dropFirst()))
        let q = fresh[0]
        var scores: [Double] = []
        scores.reserveCapacity(texts.count)
        for text in texts {
            guard let v = await memo.vector(for: text) else {
                throw RerankingError.modelOutput(model: embedder.identifier, reason: "no embedding for a candidate")
            }
            scores.append(Double(zip(q, v).reduce(0) { $0 + $1.0 * $1.1 }))
        }
        return RankedResults(query: query, results: rankByScore(scores, candidates: candidates))
    }
}

/// Passage embeddings by text, bounded: past `capacity` entries it starts
/// over, which keeps memory flat on huge collections while a run over one
/// query set still hits.
public actor EmbeddingMemo {
    public let capacity: Int
    private var vectors: [String: [Float]] = [:]

    public init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    func missing(_ texts: [String]) -> [String] { texts.filter { vectors[$0] == nil } }

    func store<S: Sequence>(_ pairs: S) where S.Element == (String, [Float]) {
        for (text, vector) in pairs {
            if vectors.count >= capacity { vectors.removeAll(keepingCapacity: true) }
            vectors[text] = vector
        }
    }

    func vector(for text: String) -> [Float]? { vectors[text] }
}
