/// A sentence encoder: texts in, one vector each out (L2-normalised, so a dot
/// product is a cosine).
public protocol TextEmbedder: Sendable {
    var identifier: String { get }
    var dimension: Int { get }
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// A cross-encoder: a relevance logit for each (query, passage) pair, read
/// jointly by the model.
public protocol PairScorer: Sendable {
    var identifier: String { get }
    func score(query: String, passages: [String]) async throws -> [Float]
}
