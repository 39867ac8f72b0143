import LanguageModels

/// Optional stage 6: a reasoning trace that leads from the query to a
/// passage's (already confirmed) label, for reasoning-first SFT data.
public struct ReasoningTraceStage: Sendable {
    public static let name = "reasoning-trace"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    public func run(query: QueryAnswer, passage: String, relevant: Bool, context: inout ItemContext) async throws -> String {
        let messages = context.prompts.reasoningTrace.render([
            "query": query.query,
            "instruction": instructionText(query.instruction),
            "label": relevant ? "relevant" : "not relevant",
            "passage": passage,
        ])
        let answer = try await context.ask(
            TraceAnswer.self, model: model, stage: Self.name, messages: messages,
            maxTokens: context.settings.maxTokens.reasoning, temperature: context.settings.generationTemperature
        ) { answer in
            answer.reasoning.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "\"reasoning\" is empty" : nil
        }
        return answer.reasoning.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
