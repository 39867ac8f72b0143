import Datasets
import Foundation
import LanguageModels

/// In-context reranking (Chen et al., "Attention in Large Language Models
/// Yields Efficient Zero-Shot Re-Rankers"): all candidates go into one prompt,
/// followed by the query; a document's score is the attention the query's
/// tokens pay to the document's tokens, minus the attention a content-free
/// query pays to them (which removes the model's positional and lexical
/// biases). Two forward passes rank all N documents, and no generation is
/// involved, so the ranking is always well formed.
public struct ICRReranker: Reranker {
    public var model: any AttentionModel
    public var maxPassageTokens: Int
    /// The calibration query; the paper uses a content-free string.
    public var calibrationQuery: String

    public var name: String { "icr" }

    public init(model: any AttentionModel, maxPassageTokens: Int = 100, calibrationQuery: String = "N/A") {
        self.model = model
        self.maxPassageTokens = maxPassageTokens
        self.calibrationQuery = calibrationQuery
    }

    /// The shared part of both prompts, with each document's span; the query
    /// (or the calibration query) follows it.
    struct Layout {
        var prefix: [Int]
        var documentSpans: [Range<Int>]
    }

    func layout(passages: [[Int]]) throws -> Layout {
        var tokens = model.promptPrefix
        tokens += try model.tokenize("Here are some paragraphs:\n\n")
        var spans: [Range<Int>] = []
        for (i, passage) in passages.enumerated() {
            tokens += try model.tokenize("[\(i + 1)] ")
            let start = tokens.count
            tokens += passage
            spans.append(start..<tokens.count)
            tokens += try model.tokenize("\n\n")
        }
        tokens += try model.tokenize("Please find information that is relevant to the following query in the paragraphs above.\n\nQuery:")
        return Layout(prefix: tokens, documentSpans: spans)
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        guard !candidates.isEmpty else { return RankedResults(query: query, results: []) }
        let passages = try candidates.map { Array(try model.tokenize($0.contents).prefix(maxPassageTokens)) }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        let layout = try layout(passages: passages)
        let queryTokens = try model.tokenize(" " + queryText)
        let calibrationTokens = try model.tokenize(" " + calibrationQuery)
        let needed = layout.prefix.count + max(queryTokens.count, calibrationTokens.count)
        guard needed <= model.contextLength else {
            throw RerankingError.invalidParameter(
                name: "candidates",
                reason: "the ICR prompt needs \(needed) tokens but \(model.identifier) has a context of \(model.contextLength); lower the depth or the passage token limit")
        }
        guard !queryTokens.isEmpty, !calibrationTokens.isEmpty else {
            throw RerankingError.emptyQuery(queryID: query.id)
        }
        let received = try await model.attentionReceived(prefix: layout.prefix, suffixes: [queryTokens, calibrationTokens])
        let scores = ICRScoring.scores(attention: received[0], calibration: received[1], spans: layout.documentSpans)
        return RankedResults(query: query, results: rankByScore(scores, candidates: candidates))
    }
}

public enum ICRScoring {
    /// Score of each document: attention its tokens received from the query,
    /// minus what they received from the calibration query. Both prompts share
    /// the prefix, so a span means the same tokens in both.
    public static func scores(attention: [Float], calibration: [Float], spans: [Range<Int>]) -> [Double] {
        spans.map { span in
            span.reduce(0.0) { $0 + Double(attention[$1]) - Double(calibration[$1]) }
        }
    }
}
