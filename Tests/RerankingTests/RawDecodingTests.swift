import Datasets
import Foundation
import LanguageModels
import Models
import Testing
@testable import Reranking

/// Rank1's decoding on a raw prompt, step by step, against a model whose
/// answers are scripted: where the answer is read, the forced close, the
/// exact second request for a missing answer, and the 0.5 of last resort.
@Suite struct RawDecodingTests {
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var _scored: [String] = [], _continued: [String] = [], _completed: [(String, Int, [String])] = []
        func scored(_ s: String) { lock.withLock { _scored.append(s) } }
        func continued(_ s: String) { lock.withLock { _continued.append(s) } }
        func completed(_ s: String, _ n: Int, _ stop: [String]) { lock.withLock { _completed.append((s, n, stop)) } }
        var scoredPrompts: [String] { lock.withLock { _scored } }
        var continuedPrompts: [String] { lock.withLock { _continued } }
        var completions: [(String, Int, [String])] { lock.withLock { _completed } }
    }

    struct ScriptedRaw: RawPromptLanguageModel {
        var reasoning = "The passage explains lift. It also mentions drag, but"
        var stopped = false
        /// What the first request reports for " true" / " false".
        var top: [Double?] = [log(0.6), log(0.2)]
        /// What the echo request says, or nil: the server refuses echo.
        var exact: [String: Double]? = nil
        let recorder = Recorder()

        var identifier: String { "scripted-raw" }
        func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] {
            Issue.record("the raw format must not use the chat path")
            return candidates.map { _ in nil }
        }
        func generate(_ request: GenerationRequest) async throws -> String { "" }
        func truncate(_ text: String, maxTokens: Int) async throws -> String { String(text.prefix(maxTokens)) }
        func complete(rawPrompt: String, maxTokens: Int, stop: [String]) async throws -> RawCompletion {
            recorder.completed(rawPrompt, maxTokens, stop)
            return RawCompletion(text: reasoning, stoppedOnString: stopped)
        }
        func nextTokenLogProbabilities(rawPrompt: String, candidates: [String]) async throws -> [Double?] {
            recorder.scored(rawPrompt)
            #expect(candidates == [" true", " false"])
            return top
        }
        func continuationLogProbability(rawPrompt: String, continuation: String) async throws -> Double {
            recorder.continued(rawPrompt + "|" + continuation)
            guard let exact, let value = exact[continuation] else {
                throw LanguageModelError.httpStatus(endpoint: "scripted", status: 400, body: "'echo' is not supported")
            }
            return value
        }
    }

    static let query = Query(id: "q", text: "swept wing lift", instruction: "Only measurements.")
    static let document = Document(id: "d", title: "Wings", text: "Lift falls at supersonic speed.")
    static let prompt = "Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'.\n"
        + "Query: swept wing lift Only measurements.\nPassage: Wings Lift falls at supersonic speed.\n<think>"

    func reranker(_ model: ScriptedRaw, budget: Int) -> PointwiseLLMReranker {
        PointwiseLLMReranker(model: model, format: .limrank, maxPassageTokens: nil, reasoningTokens: budget)
    }

    @Test func answerIsReadRightAfterTheModelsOwnClose() async throws {
        let model = ScriptedRaw(stopped: true)
        let judged = try await reranker(model, budget: 64).judge(query: Self.query, document: Self.document)
        #expect(abs(judged.score - 0.75) < 1e-12)
        #expect(model.recorder.completions.map(\.0) == [Self.prompt])
        #expect(model.recorder.completions.map(\.1) == [64])
        #expect(model.recorder.completions.first?.2 == ["</think> true", "</think> false"])
        #expect(model.recorder.scoredPrompts == [Self.prompt + model.reasoning + "</think>"])
    }

    @Test func exhaustedBudgetIsCutBackAndClosed() async throws {
        let model = ScriptedRaw(stopped: false)
        _ = try await reranker(model, budget: 64).judge(query: Self.query, document: Self.document)
        #expect(model.recorder.scoredPrompts == [Self.prompt + "\nThe passage explains lift.\n</think>"])
    }

    @Test func noBudgetClosesAnEmptyTrace() async throws {
        let model = ScriptedRaw()
        _ = try await reranker(model, budget: 0).judge(query: Self.query, document: Self.document)
        #expect(model.recorder.completions.isEmpty)
        #expect(model.recorder.scoredPrompts == [Self.prompt + "\n\n</think>"])
    }

    @Test func missingAnswersAreAskedForExactly() async throws {
        let model = ScriptedRaw(top: [nil, nil], exact: [" true": log(0.01), " false": log(0.03)])
        let ranked = try await reranker(model, budget: 0).rerank(query: Self.query, candidates: [Self.document])
        #expect(abs(ranked.results[0].score - 0.25) < 1e-12)
        #expect(ranked.warnings.isEmpty)
        let at = Self.prompt + "\n\n</think>"
        #expect(model.recorder.continuedPrompts == [at + "| true", at + "| false"])
        // One side present: only the other is asked for.
        let one = ScriptedRaw(top: [log(0.5), nil], exact: [" false": log(0.5)])
        let s = try await reranker(one, budget: 0).judge(query: Self.query, document: Self.document)
        #expect(abs(s.score - 0.5) < 1e-12 && s.read)
        #expect(one.recorder.continuedPrompts == [at + "| false"])
    }

    @Test func withoutEchoTheOldBoundOrHalfAndAWarning() async throws {
        let one = ScriptedRaw(top: [log(0.5), nil], exact: nil)
        #expect(try await reranker(one, budget: 0).judge(query: Self.query, document: Self.document).score == 1)
        let none = ScriptedRaw(stopped: true, top: [nil, nil], exact: nil)
        let ranked = try await reranker(none, budget: 8).rerank(query: Self.query, candidates: [Self.document])
        #expect(ranked.results[0].score == 0.5)
        #expect(ranked.warnings.count == 1)
        // Rank1's order: the model's own close first, then the forced close.
        #expect(none.recorder.scoredPrompts == [Self.prompt + none.reasoning + "</think>",
                                                 Self.prompt + "\nThe passage explains lift.\n</think>"])
    }
}
