import Foundation
import LanguageModels
import Models
import Reranking

/// Optional stage 6: the teacher's own reasoning about a passage, for
/// reasoning-first SFT data, kept only when the teacher's own verdict agrees
/// with the passage's confirmed label (LimRank keeps the teacher's reasoning
/// and filters on agreement; a trace written after being told the label
/// teaches the student to rationalise, not to judge).
///
/// The teacher sees the query, its instruction and the passage, never the label. It is asked up to
/// `maxReasks + 1` times (each with a fresh seed, so a sampling teacher
/// reasons anew); a trace that never agrees rejects the item with stage
/// "reasoning-trace" and the reason in `rejected.jsonl`.
public struct ReasoningTraceStage: Sendable {
    public static let name = "reasoning-trace"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    /// v2: the label is no longer in the prompt (v1 told it to the teacher).
    public static let prompt = try! PromptTemplate(
        id: "reasoning-trace-unlabelled", version: 2,
        system: "You judge whether a passage is relevant to a search query, reasoning step by step like a careful assessor.",
        user: """
        Query: {query}
        Instruction: {instruction}
        Passage:
        {passage}
        Is the passage relevant to the query? Think it through in three to six sentences about what the query \
        needs and what the passage offers, then respond with only a JSON object of the form \
        {"reasoning": "...", "relevant": true} or {"reasoning": "...", "relevant": false}.
        """,
        required: ["query", "instruction", "passage"])

    public func run(query: QueryAnswer, passage: String, relevant: Bool, context: inout ItemContext) async throws -> String {
        let messages = Self.prompt.render([
            "query": query.query,
            "instruction": instructionText(query.instruction),
            "passage": passage,
        ])
        var verdicts: [Bool] = []
        for _ in 0...context.settings.maxReasks {
            let answer = try await context.ask(
                VerdictAnswer.self, model: model, stage: Self.name, messages: messages,
                maxTokens: context.settings.maxTokens.reasoning, temperature: context.settings.generationTemperature
            ) { answer in
                answer.reasoning.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "\"reasoning\" is empty" : nil
            }
            if answer.relevant == relevant { return answer.reasoning.trimmingCharacters(in: .whitespacesAndNewlines) }
            verdicts.append(answer.relevant)
        }
        throw SynthesisError.malformedOutput(
            stage: Self.name, attempts: verdicts.count,
            reason: "the teacher's own verdict (\(verdicts.map { $0 ? "relevant" : "not relevant" }.joined(separator: ", "))) "
                + "never agreed with the label (\(relevant ? "relevant" : "not relevant")), so no trace is kept")
    }
}

/// The teacher's reasoning and its own verdict; "relevant" may be a JSON
/// boolean or the words the judge's answers use.
struct VerdictAnswer: Decodable, Sendable, Hashable {
    var reasoning: String
    var relevant: Bool

    enum CodingKeys: String, CodingKey { case reasoning, relevant }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reasoning = try c.decode(String.self, forKey: .reasoning)
        if let flag = try? c.decode(Bool.self, forKey: .relevant) {
            relevant = flag
            return
        }
        let text = try c.decode(String.self, forKey: .relevant).trimmingCharacters(in: .whitespaces).lowercased()
        switch text {
        case "true", "yes", "relevant": relevant = true
        case "false", "no", "not relevant", "irrelevant": relevant = false
        default:
            throw DecodingError.dataCorruptedError(forKey: .relevant, in: c, debugDescription: "\"\(text)\" is not true or false")
        }
    }
}
