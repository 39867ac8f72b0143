import Datasets
import LanguageModels
import Foundation
import Models

/// LimRank / Rank1-style pointwise reranking: each (query, passage) pair is
/// judged on its own, and the relevance score is P(" true") / (P(" true") +
/// P(" false")) at the answer token.
///
/// Two prompt layouts (`PointwisePrompt`):
/// - `.limrank`: Rank1/LimRank's raw prompt ending in `<think>`, sent with no
///   chat template (the model must be a `RawPromptLanguageModel`). With a
///   reasoning budget the model writes until `</think> true|false` (Rank1's
///   stop strings) and the answer is read right after `</think>`; when the
///   budget runs out first, the text is cut back to its last full sentence
///   and `"\n</think>"` is forced, as Rank1's `_fix_incomplete_responses`
///   does. Without a budget the answer is read after `"\n\n</think>"`, the
///   same forced close with empty reasoning. A server that returns only its
///   top alternatives is asked again for a missing answer's exact
///   probability (`continuationLogProbability`, through `echo`); 0.5 is the
///   score only when neither answer can be read at all (reported in
///   `RankedResults.warnings`).
/// - `.chatml`: the project's system message and the same user text through
///   the model's chat template, for instruction models never trained on the
///   raw format; the answer is read at once ("true"/"false" in any spelling),
///   or after a `<think>` trace the chat path closes with the same cut-back
///   (chat endpoints do not say whether a stop string ended a generation).
public struct PointwiseLLMReranker: Reranker {
    public var model: any LanguageModel
    public var format: PointwisePromptFormat
    /// A per-dataset query template (`FILL_QUERY_HERE`, e.g. BRIGHT's).
    public var queryTemplate: String?
    /// The `.chatml` format's messages.
    public var template: PromptTemplate
    /// Passages are cut to this many tokens of the model's tokenizer; nil
    /// keeps them whole (Rank1 and LimRank do not cut passages).
    public var maxPassageTokens: Int?
    /// Tokens the model may reason for before the answer; 0 answers at once.
    public var reasoningTokens: Int
    public var answerTokens: (yes: String, no: String)
    /// Passages of one query judged at once. Over HTTP the model's own
    /// request limit bounds what is in flight across queries; in process it
    /// stays 1 (the engine threads each forward pass itself).
    public var concurrency: Int = 1

    public var name: String { "pointwise" }

    /// Names the prompt, format and answer reading in cache keys: a change
    /// of any of them must not reuse cached scores.
    public var versionTag: String {
        switch format {
        case .limrank: return "rank1-raw@v1" + (queryTemplate.map { "|qt:\(Self.stableHash($0))" } ?? "")
        case .chatml: return template.versionTag + (queryTemplate.map { "|qt:\(Self.stableHash($0))" } ?? "")
        }
    }

    /// v2: instruction joined to the query with a space (Rank1), not a newline.
    public static let defaultTemplate = try! PromptTemplate(
        id: "limrank-pointwise", version: 2,
        system: PointwisePrompt.chatSystem,
        user: PointwisePrompt.userText(query: "{query}", passage: "{passage}"),
        required: ["query", "passage"])

    public init(model: any LanguageModel, format: PointwisePromptFormat = .chatml, queryTemplate: String? = nil,
                template: PromptTemplate = PointwiseLLMReranker.defaultTemplate,
                maxPassageTokens: Int? = 384, reasoningTokens: Int = 0) {
        self.model = model
        self.format = format
        self.queryTemplate = queryTemplate
        self.template = template
        self.maxPassageTokens = maxPassageTokens
        self.reasoningTokens = reasoningTokens
        self.answerTokens = ("true", "false")
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try await rerank(query: query, candidates: candidates) { document in
            try await judge(query: query, document: document)
        }
    }

    /// Judges every candidate through `judge` (the ranking cache passes one
    /// that looks each passage up first), up to `concurrency` at once, and
    /// ranks them; scores and warnings come out in candidate order whatever
    /// order the judgements finished in.
    public func rerank(query: Query, candidates: [Document],
                       judge: @escaping @Sendable (Document) async throws -> (score: Double, read: Bool)) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        let judged = try await boundedMap(count: candidates.count, limit: max(1, concurrency)) { i in
            try await judge(candidates[i])
        }
        let scores = judged.map { $0.score }
        let unread = zip(candidates, judged).filter { !$0.1.read }.map { $0.0.id }
        var warnings: [String] = []
        if !unread.isEmpty {
            warnings.append("no answer probability could be read for \(unread.count) passage(s), scored 0.5: "
                            + unread.prefix(5).joined(separator: ", ") + (unread.count > 5 ? ", ..." : ""))
        }
        return RankedResults(query: query, results: rankByScore(scores, candidates: candidates), warnings: warnings)
    }

    public func score(query: Query, document: Document) async throws -> Double {
        try await judge(query: query, document: document).score
    }

    /// The score and whether it was read (false: the 0.5 of last resort).
    public func judge(query: Query, document: Document) async throws -> (score: Double, read: Bool) {
        let prompt = PointwisePrompt(format: format, queryTemplate: queryTemplate)
        let queryText = prompt.query(query.text, instruction: query.instruction)
        switch format {
        case .limrank:
            guard let raw = model as? any RawPromptLanguageModel else {
                throw RerankingError.invalidParameter(
                    name: "prompt format", reason: "the limrank format sends a raw prompt, which \(model.identifier) cannot take")
            }
            var passage = PointwisePrompt.passage(title: document.title, text: document.text)
            if let maxPassageTokens { passage = try await model.truncate(passage, maxTokens: maxPassageTokens) }
            return try await scoreRaw(PointwisePrompt.rawPrompt(query: queryText, passage: passage), model: raw)
        case .chatml:
            var passage = document.contents
            if let maxPassageTokens { passage = try await model.truncate(passage, maxTokens: maxPassageTokens) }
            return try await scoreChat(template.render(["query": queryText, "passage": passage]))
        }
    }

    /// Rank1's decoding on a raw prompt that ends in `<think>`.
    func scoreRaw(_ prompt: String, model raw: any RawPromptLanguageModel) async throws -> (score: Double, read: Bool) {
        var reasoning = ""
        if reasoningTokens > 0 {
            let completion = try await raw.complete(rawPrompt: prompt, maxTokens: reasoningTokens, stop: PointwisePrompt.stopStrings)
            if completion.stoppedOnString,
               let score = try await readAnswer(after: prompt + completion.text + PointwisePrompt.thinkEnd, model: raw) {
                return (score, true)
            }
            reasoning = completion.text
        }
        let forced = prompt + PointwisePrompt.forcedAnswerPrefix(reasoning: reasoning)
        if let score = try await readAnswer(after: forced, model: raw) { return (score, true) }
        return (0.5, false)
    }

    /// P(" true") normalised over the pair at the token after `text`. A side
    /// missing from a server's top alternatives is asked for exactly; when
    /// the server cannot say, a present side against a missing one keeps the
    /// old bound (1 or 0) and nothing read gives nil.
    func readAnswer(after text: String, model raw: any RawPromptLanguageModel) async throws -> Double? {
        let candidates = [PointwisePrompt.answers.yes, PointwisePrompt.answers.no]
        var values = try await raw.nextTokenLogProbabilities(rawPrompt: text, candidates: candidates)
        for (i, value) in values.enumerated() where value == nil {
            values[i] = try await exactLogProbability(of: candidates[i], after: text, model: raw)
        }
        switch (values[0], values[1]) {
        case (nil, nil): return nil
        default: return try pairProbability(values[0], values[1], model: model.identifier)
        }
    }

    private func exactLogProbability(of candidate: String, after text: String, model raw: any RawPromptLanguageModel) async throws -> Double? {
        do {
            return try await raw.continuationLogProbability(rawPrompt: text, continuation: candidate)
        } catch let error as LanguageModelError {
            switch error {
            case .httpStatus(_, let status, _) where (400..<500).contains(status) && status != 401 && status != 403 && status != 429:
                return nil
            case .malformedResponse, .noLogProbabilities, .invalidInput:
                return nil
            default:
                throw error
            }
        } catch let error as ModelsError {
            if case .invalidInput = error { return nil }
            throw error
        }
    }

    /// The chat layout: answer at once, or after a `<think>` trace closed by
    /// the forced `"\n</think>"`.
    func scoreChat(_ messages: [ChatMessage]) async throws -> (score: Double, read: Bool) {
        var prefix = ""
        if reasoningTokens > 0 {
            let reasoning = try await model.generate(GenerationRequest(
                messages: messages, assistantPrefix: PointwisePrompt.thinkStart, maxTokens: reasoningTokens,
                stop: PointwisePrompt.stopStrings + [PointwisePrompt.thinkEnd]))
            prefix = PointwisePrompt.thinkStart + PointwisePrompt.forcedAnswerPrefix(reasoning: reasoning)
        }
        let logProbabilities = try await model.nextTokenLogProbabilities(
            for: messages, assistantPrefix: prefix, candidates: [answerTokens.yes, answerTokens.no])
        if logProbabilities[0] == nil, logProbabilities[1] == nil { return (0.5, false) }
        return (try pairProbability(logProbabilities[0], logProbabilities[1], model: model.identifier), true)
    }

    /// FNV-1a of the UTF-8 bytes: stable across runs, unlike `hashValue`.
    static func stableHash(_ text: String) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100000001b3
        }
        return String(h, radix: 16)
    }
}
