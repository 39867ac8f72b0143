import LanguageModels

/// Stage 4: passages on the same topic, in the same vocabulary, that look
/// relevant but do not satisfy the need.
public struct HardNegativeStage: Sendable {
    public static let name = "hard-negatives"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    public func run(seed: Seed, query: QueryAnswer, positive: String, context: inout ItemContext) async throws -> [String] {
        let count = context.settings.negativesPerQuery
        let minimum = context.settings.minNegatives
        let messages = context.prompts.hardNegatives.render([
            "domain": seed.domain,
            "query": query.query,
            "instruction": instructionText(query.instruction),
            "positive": positive,
            "count": String(count),
        ])
        let answer = try await context.ask(
            NegativesAnswer.self, model: model, stage: Self.name, messages: messages,
            maxTokens: context.settings.maxTokens.passages, temperature: context.settings.generationTemperature,
            format: .passages(key: "negatives", count: count)
        ) { answer in
            let usable = answer.negatives.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            return usable.count >= minimum ? nil : "\(count) non-empty passage(s) were asked for, \(usable.count) given"
        }
        return Array(answer.negatives.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }.prefix(count))
    }
}
