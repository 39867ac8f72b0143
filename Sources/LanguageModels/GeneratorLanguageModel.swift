/// A `LanguageModel` over any `StreamingTextGenerator`: the native engine in this
/// process, or whatever the server serves. Scoring reads the first generated
/// step's alternatives with `CandidateTokenMatching`, the same rule the HTTP
/// backend applies to a server's `top_logprobs`, so both paths rank alike.
public struct GeneratorLanguageModel: LanguageModel {
    public let generator: any StreamingTextGenerator
    /// Alternatives read at the answer step (matches the HTTP backend's default).
    public var topLogProbabilities: Int

    public init(_ generator: any StreamingTextGenerator, topLogProbabilities: Int = 20) {
        self.generator = generator
        self.topLogProbabilities = topLogProbabilities
    }

    public var identifier: String { generator.identifier }

    public func nextTokenLogProbabilities(
        for messages: [ChatMessage], assistantPrefix: String, candidates: [String]
    ) async throws -> [Double?] {
        if candidates.isEmpty { throw LanguageModelError.invalidInput("no candidate tokens to score") }
        var turns = messages
        if !assistantPrefix.isEmpty { turns.append(ChatMessage(.assistant, assistantPrefix)) }
        let request = TextGenerationRequest(prompt: .chat(turns), maxTokens: 1, topLogProbabilities: topLogProbabilities)
        for try await event in generator.stream(request) {
            if case .token(let token) = event {
                let alternatives = token.topLogProbabilities
                    + [TokenLogProbability(token: token.text, logProbability: token.logProbability)]
                return CandidateTokenMatching.logProbabilities(of: candidates, in: alternatives)
            }
        }
        throw LanguageModelError.noLogProbabilities(endpoint: "in-process", model: generator.identifier)
    }

    public func generate(_ request: GenerationRequest) async throws -> String {
        var turns = request.messages
        if !request.assistantPrefix.isEmpty { turns.append(ChatMessage(.assistant, request.assistantPrefix)) }
        return try await generator.generateAll(TextGenerationRequest(
            prompt: .chat(turns), maxTokens: request.maxTokens, temperature: request.temperature,
            seed: request.seed, stop: request.stop, responseFormat: request.responseFormat)).text
    }

    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        try await generator.truncate(text, maxTokens: maxTokens)
    }
}
