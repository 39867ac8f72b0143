import Datasets
import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Models
import RemoteModels
import Reranking
import Testing
import TestSupport
@testable import Server

/// The HTTP backend against the project's own server on real loopback: a
/// pointwise ranking through HTTP equals the in-process ranking of the same
/// generator, score for score.
@Suite struct HTTPBackendParityTests {
    static let query = Query(id: "q1", text: "lift of a swept wing at high speed")
    static let documents = [
        Document(id: "d1", text: "heat transfer in a boundary layer"),
        Document(id: "d2", text: "the lift of a swept wing"),
        Document(id: "d3", text: "a wing at high speed"),
        Document(id: "d4", text: "swept wing lift at high speed measured"),
        Document(id: "d5", text: "noise of jets"),
    ]

    @Test func pointwiseOverHTTPMatchesInProcess() async throws {
        let generator = ToyGenerator()
        let local = PointwiseLLMReranker(model: GeneratorLanguageModel(generator))
        let expected = try await local.rerank(query: Self.query, candidates: Self.documents)

        let app = try makeApp(backends: ServerBackends(generator: generator))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let remote = try OpenAICompatibleModel(OpenAICompatibleConfiguration(
                baseURL: "http://127.0.0.1:\(port)/v1", model: "toy", maxConcurrentRequests: 2))
            let viaHTTP = try await PointwiseLLMReranker(model: remote).rerank(query: Self.query, candidates: Self.documents)
            #expect(viaHTTP.results.map(\.documentID) == expected.results.map(\.documentID))
            for (a, b) in zip(viaHTTP.results, expected.results) {
                #expect(abs(a.score - b.score) < 1e-9, "\(a.documentID): \(a.score) vs \(b.score)")
            }
            // The scores are not all alike, so the order above means something.
            #expect(Set(expected.results.map(\.score)).count > 1)

            // Generation through the same path gives the in-process text.
            let request = GenerationRequest(messages: [ChatMessage(.user, "Query: wing\nPassage: wing lift")], maxTokens: 8)
            let remoteText = try await remote.generate(request)
            let localText = try await GeneratorLanguageModel(generator).generate(request)
            #expect(remoteText == localText)
        }
    }

    /// The same parity with the real SmolLM2 on both sides: the server's
    /// top_logprobs and the in-process logits give the same P("true") per
    /// passage (up to the f32 -> JSON -> f64 round trip), hence the same order.
    /// Both sides use the default `.normalized` matching (" true", "True" and
    /// "true" are one answer); the native side sums over its vocabulary, the
    /// client over the 20 returned alternatives, so the tolerance allows the
    /// mass of forms ranked below 20th.
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func pointwiseOverHTTPWithSmolLM2MatchesInProcess() async throws {
        let generator = try TextGenerator(gguf: Assets.smollm2GGUF)
        let documents = Array(Self.documents.prefix(3))
        let local = PointwiseLLMReranker(model: NativeLanguageModel(generator: generator))
        let expected = try await local.rerank(query: Self.query, candidates: documents)
        let app = try makeApp(backends: ServerBackends(generator: NativeStreamingGenerator(generator)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let remote = try OpenAICompatibleModel(OpenAICompatibleConfiguration(
                baseURL: "http://127.0.0.1:\(port)/v1", model: generator.identifier, maxConcurrentRequests: 1))
            let viaHTTP = try await PointwiseLLMReranker(model: remote).rerank(query: Self.query, candidates: documents)
            #expect(viaHTTP.results.map(\.documentID) == expected.results.map(\.documentID))
            for (a, b) in zip(viaHTTP.results, expected.results) {
                // Measured: at most 0.0021 apart (forms below the 20 returned).
                #expect(abs(a.score - b.score) < 5e-3, "\(a.documentID): \(a.score) vs \(b.score)")
            }
        }
    }

    @Test func authenticatedServerNeedsTheKey() async throws {
        let app = try makeApp(ServerConfiguration(port: 0, apiKey: "k-123"), backends: ServerBackends(generator: ToyGenerator()))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let messages = [ChatMessage(.user, "hi")]
            let anonymous = try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(port)/v1", model: "toy"))
            do {
                _ = try await anonymous.generate(GenerationRequest(messages: messages, maxTokens: 2))
                Issue.record("an anonymous client must be refused")
            } catch let error as LanguageModelError {
                guard case .httpStatus(_, 401, _) = error else { Issue.record("expected 401, got \(error)"); return }
            }
            let keyed = try OpenAICompatibleModel(
                OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(port)/v1", model: "toy", apiKeyVariable: "LIMRANK_KEY"),
                environment: ["LIMRANK_KEY": "k-123"])
            _ = try await keyed.generate(GenerationRequest(messages: messages, maxTokens: 2))
        }
    }
}
