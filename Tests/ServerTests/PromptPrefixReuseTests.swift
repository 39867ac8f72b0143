import Datasets
import Foundation
@testable import LanguageModels
import Models
import Reranking
import Testing
import TestSupport

/// The native backend reuses the KV cache of the prompt start it shares with
/// the previous prompt (a pointwise reranker's instructions and query): the
/// scores must be those of full runs, and the reuse must actually happen.
@Suite struct PromptPrefixReuseTests {
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func pointwiseScoresWithPrefixReuseEqualFullRuns() async throws {
        let generator = try TextGenerator(gguf: Assets.smollm2GGUF)
        let reusing = NativeLanguageModel(generator: generator)
        let fresh = NativeLanguageModel(generator: generator, reusesPromptPrefix: false)
        let query = Query(id: "q", text: "how does sweep change the lift of a wing at supersonic speed")
        let documents = [
            Document(id: "a", text: "Swept wings delay the drag rise; at supersonic speeds the lift slope of a swept wing falls."),
            Document(id: "b", text: "Heat transfer in laminar boundary layers on flat plates."),
            Document(id: "c", text: "The lift of delta wings at supersonic speeds was measured in a wind tunnel."),
            Document(id: "a2", text: "Swept wings delay the drag rise; at supersonic speeds the lift slope of a swept wing falls."),
        ]
        let withReuse = try await PointwiseLLMReranker(model: reusing).rerank(query: query, candidates: documents)
        let without = try await PointwiseLLMReranker(model: fresh).rerank(query: query, candidates: documents)
        let byID = Dictionary(uniqueKeysWithValues: without.results.map { ($0.documentID, $0.score) })
        for r in withReuse.results {
            // Only f32 rounding differs (the shared start and the tail are two prefill chunks).
            #expect(abs(r.score - byID[r.documentID]!) < 1e-4, "\(r.documentID): \(r.score) vs \(byID[r.documentID]!)")
        }
        // "a2" repeats "a" token for token: the whole prompt is shared but the last token still runs.
        let scores = Dictionary(uniqueKeysWithValues: withReuse.results.map { ($0.documentID, $0.score) })
        #expect(abs(scores["a"]! - scores["a2"]!) < 1e-4)
        #expect(reusing.lastPrompt?.reusedPrompts == 3)
        #expect(fresh.lastPrompt == nil)
    }
}
