import LanguageModels

/// Stage 5 (filtering, part one): an LLM judge votes on each passage, with
/// `judge_samples` independently seeded samples; the filters keep a passage
/// only when every vote has the label it was generated for.
public struct RelevanceJudgeStage: Sendable {
    public static let name = "relevance-judge"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    public func votes(query: QueryAnswer, passage: String, context: inout ItemContext) async throws -> [Bool] {
        let messages = context.prompts.relevanceJudge.render([
            "query": query.query,
            "instruction": instructionText(query.instruction),
            "passage": passage,
        ])
        var votes: [Bool] = []
        for _ in 0..<context.settings.judgeSamples {
            let answer = try await context.ask(
                JudgeAnswer.self, model: model, stage: Self.name, messages: messages,
                maxTokens: context.settings.maxTokens.judge, temperature: context.settings.judgeTemperature, format: .judge)
            votes.append(answer.relevant)
        }
        return votes
    }
}
