/// Removes examples that nearly repeat an earlier one (earlier = lower item
/// index, so the outcome does not depend on completion order): by MinHash
/// over word shingles of the query and of the first positive, and by the
/// cosine of query embeddings.
public struct NearDuplicateFilter: Sendable {
    public struct Duplicate: Sendable, Hashable {
        /// Position in the input of the removed example.
        public var position: Int
        /// Position of the kept example it repeats.
        public var duplicateOf: Int
        public var code: String
        public var reason: String
    }

    public var minhash: MinHash
    public var minhashThreshold: Double
    public var embeddingThreshold: Double

    public init(minhash: MinHash = MinHash(), minhashThreshold: Double, embeddingThreshold: Double) {
        self.minhash = minhash
        self.minhashThreshold = minhashThreshold
        self.embeddingThreshold = embeddingThreshold
    }

    /// `queries[i]`, `positives[i]`, `embeddings[i]` describe example i, in
    /// priority order. Returns the kept positions and the removed ones.
    public func filter(queries: [String], positives: [String], embeddings: [[Float]]) -> (kept: [Int], removed: [Duplicate]) {
        let querySignatures = queries.map(minhash.signature)
        let positiveSignatures = positives.map(minhash.signature)
        var kept: [Int] = []
        var removed: [Duplicate] = []
        for i in queries.indices {
            var duplicate: Duplicate?
            for j in kept {
                let q = MinHash.estimatedJaccard(querySignatures[i], querySignatures[j])
                if q >= minhashThreshold {
                    duplicate = Duplicate(position: i, duplicateOf: j, code: "near-duplicate-query-minhash",
                                          reason: "query shingle Jaccard ~\(Self.format(q)) with an earlier example")
                    break
                }
                let p = MinHash.estimatedJaccard(positiveSignatures[i], positiveSignatures[j])
                if p >= minhashThreshold {
                    duplicate = Duplicate(position: i, duplicateOf: j, code: "near-duplicate-positive-minhash",
                                          reason: "positive shingle Jaccard ~\(Self.format(p)) with an earlier example")
                    break
                }
                if i < embeddings.count, j < embeddings.count {
                    let c = Vectors.cosine(embeddings[i], embeddings[j])
                    if c >= embeddingThreshold {
                        duplicate = Duplicate(position: i, duplicateOf: j, code: "near-duplicate-query-embedding",
                                              reason: "query embedding cosine \(Self.format(c)) with an earlier example")
                        break
                    }
                }
            }
            if let duplicate { removed.append(duplicate) } else { kept.append(i) }
        }
        return (kept, removed)
    }

    static func format(_ x: Double) -> String {
        String(Double(Int((x * 1000).rounded())) / 1000)
    }
}
