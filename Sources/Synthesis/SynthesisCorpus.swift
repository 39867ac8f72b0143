import Randomness
import Datasets
import Foundation
import LanguageModels
import Models
import Retrieval

/// A collection's documents made ready for corpus-grounded synthesis: which
/// documents can be used, the order in which items pick them (diverse first),
/// and the two retrievers that mine hard negatives and measure the queries
/// (BM25 over the project's English analysis, and dense cosine over the
/// run's embedder).
///
/// Built from documents only (`DocumentCollection`): the collection's queries
/// and judgements are never read, so none of them can reach training data.
/// Deterministic for given documents, embedder and run seed, so a resumed
/// run rebuilds the same thing.
public struct SynthesisCorpus: Sendable {
    public let name: String
    public let documents: [Document]
    /// Positions of the documents with at least `corpus_min_words` words.
    public let eligible: [Int]
    /// The order items take documents in: farthest-point traversal over the
    /// eligible documents' embeddings, from a seed-chosen start, so the first
    /// N picks spread over the collection's topics.
    public let order: [Int]
    let embeddings: [[Float]]
    let bm25: BM25Index
    let positions: [String: Int]
    public let embedderIdentifier: String

    /// Embeds and indexes `collection`. `progress` gets a line now and then.
    public static func prepare(_ collection: DocumentCollection, embedder: any TextEmbedder, settings: SynthesisConfiguration,
                               progress: @Sendable (String) -> Void = { _ in }) async throws -> SynthesisCorpus {
        let documents = collection.documents
        let eligible = documents.indices.filter { MinHash.words(documents[$0].contents).count >= settings.corpusMinWords }
        guard !eligible.isEmpty else {
            throw SynthesisError.invalidParameter(
                name: "corpus \(collection.source)", reason: "no document has \(settings.corpusMinWords) words or more (corpus_min_words)")
        }
        progress("synthesize: corpus \(collection.name): \(documents.count) documents, \(eligible.count) with >= \(settings.corpusMinWords) words; embedding them with \(embedder.identifier)")
        var embeddings = [[Float]](repeating: [], count: documents.count)
        let batch = 64
        var done = 0
        for start in stride(from: 0, to: eligible.count, by: batch) {
            try Task.checkCancellation()
            let slice = Array(eligible[start..<min(eligible.count, start + batch)])
            let vectors = try await embedder.embed(slice.map { documents[$0].contents })
            guard vectors.count == slice.count else {
                throw SynthesisError.invalidParameter(name: "embedder \(embedder.identifier)", reason: "returned \(vectors.count) vectors for \(slice.count) texts")
            }
            for (position, vector) in zip(slice, vectors) { embeddings[position] = Vectors.normalized(vector) }
            done += slice.count
            if done == eligible.count || (done / batch) % 8 == 0 { progress("synthesize: embedded \(done)/\(eligible.count) documents") }
        }
        let bm25 = BM25Index.build(documents: documents)
        var positions: [String: Int] = [:]
        for (i, document) in documents.enumerated() { positions[document.id] = i }
        let order = farthestPointOrder(eligible, embeddings: embeddings, seed: settings.seed)
        return SynthesisCorpus(name: collection.name, documents: documents, eligible: eligible, order: order,
                               embeddings: embeddings, bm25: bm25, positions: positions, embedderIdentifier: embedder.identifier)
    }

    /// Greedy farthest-point traversal (Gonzalez): each next document is the
    /// one least similar to everything picked so far.
    static func farthestPointOrder(_ candidates: [Int], embeddings: [[Float]], seed: UInt64) -> [Int] {
        guard !candidates.isEmpty else { return [] }
        var generator = SplitMix64(seed: seed ^ 0xC0_5CA7)
        var order: [Int] = []
        order.reserveCapacity(candidates.count)
        var taken = [Bool](repeating: false, count: candidates.count)
        // Highest similarity to any picked document, per candidate.
        var closest = [Float](repeating: -.infinity, count: candidates.count)
        var next = Int(generator.next() % UInt64(candidates.count))
        for _ in 0..<candidates.count {
            taken[next] = true
            order.append(candidates[next])
            let picked = embeddings[candidates[next]]
            var best = -1
            var bestValue = Float.infinity
            for k in candidates.indices where !taken[k] {
                closest[k] = max(closest[k], dot(picked, embeddings[candidates[k]]))
                if closest[k] < bestValue {
                    bestValue = closest[k]
                    best = k
                }
            }
            if best < 0 { break }
            next = best
        }
        return order
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return 0 }
        var sum: Float = 0
        for i in a.indices { sum += a[i] * b[i] }
        return sum
    }

    /// The document position item `index` is grounded in.
    public func document(forItem index: Int) -> Int { order[index % order.count] }

    public func position(of id: String) -> Int? { positions[id] }

    /// A hash of the documents and their embedding, for the run's fingerprint.
    public var fingerprint: String {
        var h = StableHash.of(name + "\u{1}" + embedderIdentifier)
        for document in documents { h = StableHash.mix(h ^ StableHash.of(document.id + "\u{1}" + document.contents)) }
        return "\(name):\(documents.count):\(String(h, radix: 16))"
    }

    /// BM25's best `topK` document positions for `query`.
    public func bm25Ranking(_ query: String, topK: Int) -> [Int] {
        bm25.search(query, topK: topK).compactMap { positions[$0.id] }
    }

    /// Cosine with a (normalised) query vector, per eligible document, best first.
    public func denseRanking(_ vector: [Float], topK: Int) -> [Int] {
        let q = Vectors.normalized(vector)
        var scored = eligible.map { (position: $0, score: Self.dot(q, embeddings[$0])) }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.position < $1.position }
        return scored.prefix(topK).map(\.position)
    }

    public func denseScore(_ vector: [Float], _ position: Int) -> Double {
        Double(Self.dot(Vectors.normalized(vector), embeddings[position]))
    }

    public func isEligible(_ position: Int) -> Bool { !embeddings[position].isEmpty }
}

/// The first `count` words of `text` (whitespace-separated), so long
/// documents fit a small model's prompt.
func leadingWords(_ text: String, _ count: Int) -> String {
    let words = text.split(whereSeparator: \.isWhitespace)
    guard words.count > count else { return words.joined(separator: " ") }
    return words.prefix(count).joined(separator: " ") + " ..."
}
