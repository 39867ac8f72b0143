import LanguageModels

/// Stage 3: passages that satisfy the need without restating it.
public struct PositivePassageStage: Sendable {
    public static let name = "positive-passages"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    public func run(seed: Seed, query: QueryAnswer, context: inout ItemContext) async throws -> [String] {
        let count = context.settings.positivesPerQuery
        let messages = context.prompts.positivePassages.render([
            "domain": seed.domain,
            "query": query.query,
            "instruction": instructionText(query.instruction),
            "count": String(count),
        ])
        let answer = try await context.ask(
            PositivesAnswer.self, model: model, stage: Self.name, messages: messages,
            maxTokens: context.settings.maxTokens.passages, temperature: context.settings.generationTemperature,
            format: .passages(key: "positives", count: count)
        ) { answer in
            let usable = answer.positives.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            return usable.count >= count ? nil : "\(count) non-empty passage(s) were asked for, \(usable.count) given"
        }
        return Array(answer.positives.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }.prefix(count))
    }
}
