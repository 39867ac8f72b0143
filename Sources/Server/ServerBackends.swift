import Foundation
import Datasets
import LanguageModels
import Reranking

/// How a rerank score maps to [0, 1] when a client asks for normalised
/// scores (TEI's `raw_scores: false`).
public enum ScoreScale: String, Sendable {
    /// Already a probability (pointwise LLM).
    case probability
    /// A cosine in [-1, 1]: mapped by (c + 1) / 2.
    case cosine
    /// An unbounded logit (cross-encoder): mapped by the logistic function.
    case logit
}

/// What serves /v1/rerank.
public enum RerankBackend: Sendable {
    /// Cosine of the served embedder's vectors, batched with /v1/embeddings work.
    case dense
    /// Any reranking strategy; `model` is the name reported to clients.
    case strategy(any Reranker, model: String, scale: ScoreScale)
}

/// The models a server answers with; an endpoint whose backend is absent answers 404.
public struct ServerBackends: Sendable {
    public var embedder: (any TextEmbedder)?
    public var generator: (any StreamingTextGenerator)?
    public var reranker: RerankBackend?
    /// Other names clients may use for a served model: alias -> the model's
    /// identifier (`limrank serve --generation-model smollm2` answers requests
    /// for "smollm2" as well as for the GGUF's own name).
    public var aliases: [String: String]
    /// Fuse the reranker's scores with the client's first stage (`serve --fuse`).
    public var fusion: ScoreFusion?

    public init(embedder: (any TextEmbedder)? = nil, generator: (any StreamingTextGenerator)? = nil, reranker: RerankBackend? = nil,
                aliases: [String: String] = [:]) {
        self.embedder = embedder
        self.generator = generator
        self.reranker = reranker
        self.aliases = aliases
    }

    /// Whether a request naming `requested` is for the model served as `served`.
    static func names(_ requested: String, _ served: String, aliases: [String: String]) -> Bool {
        requested == served || aliases[requested] == served
    }
}

/// Scores one query's texts, in input order, with whichever backend is configured.
struct RerankService: Sendable {
    enum Kind: Sendable {
        case dense(EmbeddingBatcher)
        case strategy(any Reranker, AdmissionGate)
    }
    let kind: Kind
    let model: String
    let scale: ScoreScale
    var fusion: ScoreFusion? = nil

    /// With `--fuse`, the reranker's scores fused with the request's first
    /// stage: `first_stage_scores` when the client sends them, else the
    /// documents' order (the first document is the first stage's best).
    func fused(_ scores: [Double], firstStage: [Double]?) throws -> [Double] {
        guard let fusion else { return scores }
        if let firstStage, firstStage.count != scores.count {
            throw ServerError.badRequest("'first_stage_scores' holds \(firstStage.count) scores for \(scores.count) documents", param: "first_stage_scores")
        }
        if let firstStage, !firstStage.allSatisfy(\.isFinite) {
            throw ServerError.badRequest("'first_stage_scores' must be finite numbers", param: "first_stage_scores")
        }
        let byOrder = scores.indices.map { Double(scores.count - $0) }
        return fusion.fuse(firstStage: firstStage ?? byOrder, rerank: scores)
    }

    func scores(query: String, texts: [String]) async throws -> [Double] {
        switch kind {
        case .dense(let batcher):
            // The query rides in the same batch as its documents.
            let vectors = try await batcher.embed([query] + texts)
            guard vectors.count == texts.count + 1 else {
                throw ServerError.internalError("encoder returned \(vectors.count) vectors for \(texts.count + 1) texts")
            }
            return vectors.dropFirst().map { cosineSimilarity(vectors[0], $0) }
        case let .strategy(reranker, gate):
            let documents = texts.indices.map { Document(id: String($0), text: texts[$0]) }
            let ranked = try await gate.run {
                try await reranker.rerank(query: Query(id: "request", text: query), candidates: documents)
            }
            var scores = [Double?](repeating: nil, count: texts.count)
            for result in ranked.results where scores.indices.contains(result.index) { scores[result.index] = result.score }
            guard scores.allSatisfy({ $0 != nil }) else {
                throw ServerError.internalError("reranker returned \(ranked.results.count) results for \(texts.count) documents")
            }
            return scores.map { $0 ?? 0 }
        }
    }

    func normalised(_ score: Double) -> Double {
        switch scale {
        case .probability: return score
        case .cosine: return (score + 1) / 2
        case .logit: return 1 / (1 + exp(-score))
        }
    }
}

/// Cosine similarity of two vectors of equal length; 0 when either is all zeros.
func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return 0 }
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        let x = Double(a[i]), y = Double(b[i])
        dot += x * y
        na += x * x
        nb += y * y
    }
    let denominator = (na * nb).squareRoot()
    return denominator > 0 ? dot / denominator : 0
}
