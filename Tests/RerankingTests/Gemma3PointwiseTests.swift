import Datasets
import Foundation
import LanguageModels
import Models
import Testing
import TestSupport
@testable import Reranking

/// Pointwise reranking with Gemma 3 270M (SentencePiece vocabulary, BOS
/// first): the answer tokens " true" / " false" are found as SentencePiece
/// pieces ("▁true", "▁false"), so every passage gets a read probability,
/// never the 0.5 of last resort.
@Suite struct Gemma3PointwiseTests {
    static let query = Query(id: "q1", text: "how do wings generate lift?")
    static let passages = [
        Document(id: "lift", text: "A wing deflects air downward; the pressure above the aerofoil is lower than below, which lifts the wing."),
        Document(id: "soup", text: "Season the soup with salt and pepper and let it simmer for twenty minutes."),
        Document(id: "layer", text: "The boundary layer over the wing separates at high angles of attack, and lift falls (stall)."),
    ]

    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)))
    func answerTokensAreSentencePiecePieces() throws {
        let generator = try TextGenerator(gguf: Assets.gemma3GGUF)
        for answer in [PointwisePrompt.answers.yes, PointwisePrompt.answers.no] {
            let ids = generator.encode(answer)
            #expect(ids.count == 1, "\(answer) -> \(ids)")
            #expect(generator.tokenizer.token(for: ids[0]) == "▁" + answer.dropFirst())
        }
    }

    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)),
          arguments: [PointwisePromptFormat.limrank, .chatml], [CandidateTokenMatching.exact, .normalized])
    func scoresAreReadProbabilities(format: PointwisePromptFormat, matching: CandidateTokenMatching) async throws {
        let model = NativeLanguageModel(generator: try TextGenerator(gguf: Assets.gemma3GGUF), candidateMatching: matching)
        let reranker = PointwiseLLMReranker(model: model, format: format)
        var scores: [Double] = []
        for passage in Self.passages {
            let (score, read) = try await reranker.judge(query: Self.query, document: passage)
            #expect(read, "\(format) \(passage.id): no answer probability read")
            #expect(score > 0 && score < 1 && score != 0.5, "\(format) \(passage.id): \(score)")
            scores.append(score)
        }
        #expect(Set(scores).count == scores.count, "\(format): scores \(scores)")
        print("gemma3 pointwise \(format) \(matching): \(zip(Self.passages.map(\.id), scores).map { "\($0)=\($1)" })")
    }
}
