import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Reranking
import Testing
@testable import Server

/// `serve --fuse`: /v1/rerank and /rerank return the fusion of the cosine and
/// the client's first stage (its scores, or the documents' order).
@Suite struct RerankFusionTests {
    static let documents = ["heat transfer", "wing lift", "lift of a swept wing"]

    func cosines() async throws -> [Double] {
        let vectors = try await WordHashEmbedder().embed(["wing lift"] + Self.documents)
        return Self.documents.indices.map { cosineSimilarity(vectors[0], vectors[$0 + 1]) }
    }

    func app(_ fusion: ScoreFusion) throws -> some ApplicationProtocol {
        var backends = ServerBackends(embedder: WordHashEmbedder(), generator: ToyGenerator(), reranker: .dense)
        backends.fusion = fusion
        return try makeApp(backends: backends)
    }

    @Test func interpolationWithClientScores() async throws {
        let fusion = ScoreFusion.interpolate(lambda: 0.5)
        let expected = fusion.fuse(firstStage: [9, 1, 5], rerank: try await cosines())
        try await app(fusion).test(.router) { client in
            let reply = try await client.send(.post, "/v1/rerank", json: #"{"query":"wing lift","documents":["heat transfer","wing lift","lift of a swept wing"],"first_stage_scores":[9,1,5]}"#)
            #expect(reply.status == 200)
            let results = try #require(reply.object["results"] as? [[String: Any]])
            let order = expected.indices.sorted { expected[$0] != expected[$1] ? expected[$0] > expected[$1] : $0 < $1 }
            #expect(results.compactMap { $0["index"] as? Int } == order)
            for result in results {
                let index = try #require(result["index"] as? Int)
                #expect(abs((result["relevance_score"] as? Double ?? .nan) - expected[index]) < 1e-12)
            }
            // "heat transfer" shares no word with the query: its cosine is the lowest, but the
            // first stage put it first, so it is not last after fusion.
            #expect(order.last != 0)
            let bad = try await client.send(.post, "/v1/rerank", json: #"{"query":"wing lift","documents":["a","b"],"first_stage_scores":[1]}"#)
            #expect(bad.status == 400)
            #expect(bad.errorMessage?.contains("first_stage_scores") == true)
        }
    }

    /// Without first-stage scores the texts' order is the first stage; TEI
    /// returns the fused scores as they are.
    @Test func rrfByDocumentOrder() async throws {
        let fusion = ScoreFusion.reciprocalRank(k: 60)
        let expected = fusion.fuse(firstStage: [3, 2, 1], rerank: try await cosines())
        try await app(fusion).test(.router) { client in
            let reply = try await client.send(.post, "/rerank", json: #"{"query":"wing lift","texts":["heat transfer","wing lift","lift of a swept wing"]}"#)
            #expect(reply.status == 200)
            let results = try #require(reply.json as? [[String: Any]])
            for result in results {
                let index = try #require(result["index"] as? Int)
                #expect(abs((result["score"] as? Double ?? .nan) - expected[index]) < 1e-12)
            }
        }
    }
}
