/// A sentence encoder: texts in, one vector per text out.
public protocol Embedder: Sendable {
    var identifier: String { get }
    var dimension: Int { get }
    /// Longest input in tokens; longer texts are truncated by the encoder.
    var maxTokens: Int { get }
    /// One vector per text, in order. Batches of any size are accepted; the
    /// implementation splits them as it needs.
    func embed(_ texts: [String]) async throws -> [[Float]]
    func countTokens(_ text: String) async throws -> Int
}

/// Cosine similarity of two vectors of equal length; 0 when either is all zeros.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "cosine of vectors of different lengths")
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
