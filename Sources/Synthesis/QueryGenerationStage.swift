import LanguageModels

/// Stage 2: a persona's reasoning-intensive information need about a domain,
/// optionally with a FollowIR-style instruction.
public struct QueryGenerationStage: Sendable {
    public static let name = "query-generation"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    static let instructionRequest = """
    Also write an instruction, as in FollowIR: one or two sentences that narrow what counts as a relevant answer \
    (for example ruling out a common but wrong kind of answer, or requiring a particular setting or constraint).
    """
    static let noInstruction = "Leave \"instruction\" empty."

    public func run(seed: Seed, context: inout ItemContext) async throws -> QueryAnswer {
        let messages = context.prompts.queryGeneration.render([
            "persona": seed.persona,
            "domain": seed.domain,
            "domain_kind": seed.domainKind == .expert ? "expert (specialist knowledge)" : "everyday life",
            "instruction_request": seed.wantsInstruction ? Self.instructionRequest : Self.noInstruction,
        ])
        return try await QueryAnswer.ask(model: model, stage: Self.name, seed: seed, messages: messages, context: &context)
    }
}

extension QueryAnswer {
    /// One query request under the query schema (re-asked while the query, or an
    /// instruction the seed wants, is empty), trimmed; shared by the seed-only and
    /// the corpus-grounded query stages.
    static func ask(model: any LanguageModel, stage: String, seed: Seed, messages: [ChatMessage],
                    context: inout ItemContext) async throws -> QueryAnswer {
        var answer = try await context.ask(
            QueryAnswer.self, model: model, stage: stage, messages: messages,
            maxTokens: context.settings.maxTokens.query, temperature: context.settings.generationTemperature,
            format: .query(wantsInstruction: seed.wantsInstruction)
        ) { answer in
            if answer.query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "\"query\" is empty" }
            if seed.wantsInstruction && answer.instruction.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return "\"instruction\" is empty but an instruction was asked for"
            }
            return nil
        }
        answer.query = answer.query.trimmingCharacters(in: .whitespacesAndNewlines)
        answer.instruction = seed.wantsInstruction ? answer.instruction.trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return answer
    }
}

/// How prompts show an absent instruction.
func instructionText(_ instruction: String) -> String {
    instruction.isEmpty ? "(none)" : instruction
}
