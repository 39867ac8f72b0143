import Datasets
import LanguageModels

/// Feature-hashed bag of words and word bigrams, L2-normalised: a lexical
/// stand-in for a sentence encoder (MiniLM through `NativeEncoder`), so dedup
/// and selection work without a model.
public struct HashingEmbedder: TextEmbedder {
    public var dimension: Int
    public var identifier: String { "hashing-\(dimension)" }

    public init(dimension: Int = 512) { self.dimension = max(8, dimension) }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map(vector)
    }

    public func vector(_ text: String) -> [Float] {
        var v = [Float](repeating: 0, count: dimension)
        let words = MinHash.words(text).filter { !QualityFilter.stopwords.contains($0) }
        var features = words
        if words.count > 1 { for i in 1..<words.count { features.append(words[i - 1] + " " + words[i]) } }
        for feature in features {
            let h = StableHash.of(feature)
            v[Int(h % UInt64(dimension))] += (h >> 63) == 0 ? 1 : -1
        }
        return Vectors.normalized(v)
    }
}

enum Vectors {
    static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    /// Cosine of two vectors (0 when either is zero).
    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return 0 }
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in a.indices {
            dot += a[i] * b[i]
            na += a[i] * a[i]
            nb += b[i] * b[i]
        }
        guard na > 0, nb > 0 else { return 0 }
        return Double(dot / (na.squareRoot() * nb.squareRoot()))
    }
}
