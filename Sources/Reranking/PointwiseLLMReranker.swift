import Datasets
import LanguageModels
import Foundation

/// LimRank / Rank1-style pointwise reranking: each (query, passage) pair is
/// judged on its own, and the relevance score is P("true") at the answer
/// token, normalised over the "true"/"false" pair.
///
/// In reasoning-first mode the model first writes a reasoning trace (bounded
/// by `reasoningTokens`), then the answer is forced to follow `</think>` and
/// the score is read there, as Rank1 and LimRank do.
public struct PointwiseLLMReranker: Reranker {
    public var model: any LanguageModel
    public var template: PromptTemplate
    /// Passages are cut to this many tokens of the model's tokenizer so the
    /// prompt fits the context.
    public var maxPassageTokens: Int
    /// 0 answers directly; more lets the model reason first.
    public var reasoningTokens: Int
    public var answerTokens: (yes: String, no: String)

    public var name: String { "pointwise" }

    public static let defaultTemplate = try! PromptTemplate(
        id: "limrank-pointwise", version: 1,
        system: "You judge whether a passage satisfies a search query. Reason about what the query needs, not about shared words.",
        user: """
        Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'.
        Query: {query}
        Passage: {passage}
        """,
        required: ["query", "passage"])

    public init(model: any LanguageModel, template: PromptTemplate = PointwiseLLMReranker.defaultTemplate,
                maxPassageTokens: Int = 384, reasoningTokens: Int = 0) {
        self.model = model
        self.template = template
        self.maxPassageTokens = maxPassageTokens
        self.reasoningTokens = reasoningTokens
        self.answerTokens = ("true", "false")
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        var scores: [Double] = []
        scores.reserveCapacity(candidates.count)
        for document in candidates {
            scores.append(try await score(query: query, document: document))
        }
        return RankedResults(query: query, results: rankByScore(scores, candidates: candidates))
    }

    public func score(query: Query, document: Document) async throws -> Double {
        let passage = try await model.truncate(document.contents, maxTokens: maxPassageTokens)
        let queryText = query.instruction.isEmpty ? query.text : query.text + "\n" + query.instruction
        let messages = template.render(["query": queryText, "passage": passage])
        var prefix = ""
        if reasoningTokens > 0 {
            let reasoning = try await model.generate(GenerationRequest(
                messages: messages, assistantPrefix: "<think>\n", maxTokens: reasoningTokens, stop: ["</think>"]))
            prefix = "<think>\n" + reasoning.trimmingCharacters(in: .whitespacesAndNewlines) + "\n</think>\n"
        }
        let logProbabilities = try await model.nextTokenLogProbabilities(
            for: messages, assistantPrefix: prefix, candidates: [answerTokens.yes, answerTokens.no])
        return try pairProbability(logProbabilities[0], logProbabilities[1], model: model.identifier)
    }
}
