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

/// Rank1/LimRank's raw format through `limrank serve` (/v1/completions with
/// the raw prompt) gives the in-process scores of the same tiny Qwen2
/// (Tests/RerankingTests/Fixtures/limrank, `Scripts/fixtures/limrank_prompts.py`),
/// including passages where neither " true" nor " false" is among the 20
/// alternatives a server returns: those are scored exactly by a second,
/// `echo` request instead of ending as 0, 1 or an error.
@Suite struct LimRankFormatOverHTTPTests {
    /// f32 logits -> JSON -> f64 on one side, f32 -> f64 on the other.
    static let scoreTolerance = 1e-5

    struct Golden: Decodable {
        struct Case: Decodable {
            var query: String, instruction: String, title: String, text: String, raw_prompt: String, forced_empty: String
            var true_in_top20: Bool, false_in_top20: Bool
        }
        var reasoning_tokens: Int
        var cases: [Case]
    }

    static let fixture = Assets.repoRoot.appendingPathComponent("Tests/RerankingTests/Fixtures/limrank")

    @Test func rawFormatOverHTTPMatchesInProcess() async throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.fixture.appendingPathComponent("golden.json")))
        // The fixture must hold the case this test is about.
        #expect(golden.cases.contains { !$0.true_in_top20 && !$0.false_in_top20 })
        #expect(golden.cases.contains { $0.true_in_top20 != $0.false_in_top20 || ($0.true_in_top20 && $0.false_in_top20) })
        let generator = try TextGenerator(directory: Self.fixture)
        let local = NativeLanguageModel(generator: generator)
        let app = try makeApp(backends: ServerBackends(generator: NativeStreamingGenerator(generator)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let remote = try OpenAICompatibleModel(OpenAICompatibleConfiguration(
                baseURL: "http://127.0.0.1:\(port)/v1", model: generator.identifier, maxConcurrentRequests: 1))
            // Neither answer in the top 20: the first request cannot tell, the echo request can.
            for c in golden.cases where !c.true_in_top20 && !c.false_in_top20 {
                let top = try await remote.nextTokenLogProbabilities(rawPrompt: c.forced_empty, candidates: [" true", " false"])
                #expect(top == [nil, nil])
                let exact = try await remote.continuationLogProbability(rawPrompt: c.forced_empty, continuation: " true")
                let inProcess = try await local.nextTokenLogProbabilities(rawPrompt: c.forced_empty, candidates: [" true"])
                #expect(abs(exact - inProcess[0]!) < 1e-4)
            }
            for budget in [0, golden.reasoning_tokens] {
                for c in golden.cases {
                    let query = Query(id: "q", text: c.query, instruction: c.instruction)
                    let document = Document(id: "d", title: c.title, text: c.text)
                    let viaHTTP = try await PointwiseLLMReranker(model: remote, format: .limrank, maxPassageTokens: nil, reasoningTokens: budget)
                        .judge(query: query, document: document)
                    let inProcess = try await PointwiseLLMReranker(model: local, format: .limrank, maxPassageTokens: nil, reasoningTokens: budget)
                        .judge(query: query, document: document)
                    #expect(viaHTTP.read && inProcess.read)
                    #expect(abs(viaHTTP.score - inProcess.score) < Self.scoreTolerance,
                            "budget \(budget), \(c.query): \(viaHTTP.score) vs \(inProcess.score)")
                }
            }
        }
    }

    /// A server without `echo` (here the toy generator) refuses it with a 400,
    /// which the reranker takes as "cannot say", not as a failure of the run.
    @Test func serverWithoutEchoFallsBackAndSaysSo() async throws {
        let app = try makeApp(backends: ServerBackends(generator: ToyGenerator()))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let remote = try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(port)/v1", model: "toy"))
            do {
                _ = try await remote.continuationLogProbability(rawPrompt: "a b", continuation: " c")
                Issue.record("the toy generator cannot echo")
            } catch let error as LanguageModelError {
                guard case .httpStatus(_, 400, _) = error else { Issue.record("expected 400, got \(error)"); return }
            }
            let reranker = PointwiseLLMReranker(model: remote, format: .limrank, maxPassageTokens: nil, reasoningTokens: 0)
            let ranked = try await reranker.rerank(query: Query(id: "q", text: "zzz"), candidates: [Document(id: "d", text: "qqq")])
            // The toy ends this prompt at once (its end token wins the first
            // step), so no alternatives come back and echo is refused: the
            // 0.5 of last resort, said in a warning rather than thrown.
            let top = try await remote.nextTokenLogProbabilities(
                rawPrompt: PointwisePrompt.rawPrompt(query: "zzz", passage: "qqq") + PointwisePrompt.forcedAnswerPrefix(reasoning: ""),
                candidates: [" true", " false"])
            #expect(top == [nil, nil])
            #expect(ranked.results.map(\.score) == [0.5])
            #expect(ranked.warnings.count == 1)
        }
    }
}
