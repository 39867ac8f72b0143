import Testing
import Datasets
import LanguageModels
@testable import Reranking

/// Bag-of-words "embeddings" over a fixed vocabulary, L2-normalised: the
/// cosine order of passages is computable by hand.
struct BagOfWordsEmbedder: TextEmbedder {
    let vocabulary = ["swept", "wing", "lift", "boundary", "layer", "heat", "pipe"]
    var identifier: String { "bow" }
    var dimension: Int { vocabulary.count }
    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            let words = text.lowercased().split(separator: " ").map(String.init)
            var v = vocabulary.map { w in Float(words.filter { $0 == w }.count) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { v = v.map { $0 / norm } }
            return v
        }
    }
}

struct OverlapScorer: PairScorer {
    var identifier: String { "overlap" }
    func score(query: String, passages: [String]) async throws -> [Float] {
        let q = Set(query.lowercased().split(separator: " "))
        return passages.map { Float(Set($0.lowercased().split(separator: " ")).intersection(q).count) }
    }
}

let encoderDocs = [
    Document(id: "pipes", text: "heat pipe heat"),
    Document(id: "wing", text: "swept wing lift"),
    Document(id: "layer", text: "boundary layer"),
    Document(id: "both", text: "swept wing boundary layer"),
]

@Test func denseRanksByCosine() async throws {
    let q = Query(id: "q", text: "swept wing boundary layer")
    let ranked = try await DenseReranker(embedder: BagOfWordsEmbedder()).rerank(query: q, candidates: encoderDocs)
    // cos: both = 1, layer = 2/(2·√2) = 0.707, wing = 2/(2·√3) = 0.577, pipes = 0.
    #expect(ranked.results.map(\.documentID) == ["both", "layer", "wing", "pipes"])
    #expect(abs(ranked.results[0].score - 1) < 1e-6)
    #expect(ranked.results.last?.score == 0)
}

@Test func crossEncoderRanksByLogit() async throws {
    let q = Query(id: "q", text: "boundary layer lift")
    let ranked = try await CrossEncoderReranker(scorer: OverlapScorer()).rerank(query: q, candidates: encoderDocs)
    // "layer" and "both" tie on 2 shared words: input order decides.
    #expect(ranked.results.map(\.documentID) == ["layer", "both", "wing", "pipes"])
}

actor EmbedCounter { var texts = 0; func add(_ n: Int) { texts += n } }

struct CountingEmbedder: TextEmbedder {
    let counter: EmbedCounter
    var identifier: String { "counting" }
    var dimension: Int { 7 }
    func embed(_ texts: [String]) async throws -> [[Float]] {
        await counter.add(texts.count)
        return try await BagOfWordsEmbedder().embed(texts)
    }
}

@Test func denseEncodesEachDistinctPassageOnce() async throws {
    let counter = EmbedCounter()
    let reranker = DenseReranker(embedder: CountingEmbedder(counter: counter))
    let q1 = Query(id: "1", text: "swept wing"), q2 = Query(id: "2", text: "heat pipe")
    let a = try await reranker.rerank(query: q1, candidates: encoderDocs)
    let b = try await reranker.rerank(query: q2, candidates: Array(encoderDocs.reversed()))
    // 4 passages once, plus one query each time.
    #expect(await counter.texts == 4 + 2)
    #expect(a.results.first?.documentID == "wing")
    #expect(b.results.first?.documentID == "pipes")
}
