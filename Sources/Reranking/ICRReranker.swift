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

    /// The prompt, laid out as tokens with each document's span recorded.
    struct Layout {
        var tokens: [Int]
        var documentSpans: [Range<Int>]
        var querySpan: Range<Int>
    }

    func layout(query: String, passages: [[Int]]) throws -> Layout {
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
        tokens += try model.tokenize("Please find information that is relevant to the following query in the paragraphs above.\n\nQuery: ")
        let queryStart = tokens.count
        tokens += try model.tokenize(query)
        let querySpan = queryStart..<tokens.count
        guard tokens.count <= model.contextLength else {
            throw RerankingError.invalidParameter(
                name: "candidates",
                reason: "the ICR prompt needs \(tokens.count) tokens but \(model.identifier) has a context of \(model.contextLength); lower the depth or --max-passage-tokens")
        }
        return Layout(tokens: tokens, documentSpans: spans, querySpan: querySpan)
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        guard !candidates.isEmpty else { return RankedResults(query: query, results: []) }
        let passages = try candidates.map { Array(try model.tokenize($0.contents).prefix(maxPassageTokens)) }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        let real = try layout(query: queryText, passages: passages)
        let calibration = try layout(query: calibrationQuery, passages: passages)
        let withQuery = try await model.attentionReceived(tokens: real.tokens, from: real.querySpan)
        let contentFree = try await model.attentionReceived(tokens: calibration.tokens, from: calibration.querySpan)
        let scores = ICRScoring.scores(
            attention: withQuery, calibration: contentFree,
            spans: real.documentSpans, calibrationSpans: calibration.documentSpans)
        return RankedResults(query: query, results: rankByScore(scores, candidates: candidates))
    }
}

public enum ICRScoring {
    /// Score of each document: attention its tokens received from the query,
    /// minus what they received from the calibration query. The document spans
    /// sit at the same positions in both prompts, since only the query differs
    /// and it comes last.
    public static func scores(attention: [Float], calibration: [Float],
                              spans: [Range<Int>], calibrationSpans: [Range<Int>]) -> [Double] {
        zip(spans, calibrationSpans).map { span, calibrated in
            let received = span.reduce(0.0) { $0 + Double(attention[$1]) }
            let baseline = calibrated.reduce(0.0) { $0 + Double(calibration[$1]) }
            return received - baseline
        }
    }
}
