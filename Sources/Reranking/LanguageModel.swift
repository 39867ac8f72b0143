import Foundation

/// A chat turn, as the OpenAI API and ChatML templates spell it.
public struct ChatMessage: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String

    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

public struct GenerationRequest: Sendable, Hashable {
    public var messages: [ChatMessage]
    /// Text the assistant's answer is forced to start with (e.g. a reasoning
    /// trace followed by a closing tag), so scoring can happen after it.
    public var assistantPrefix: String
    public var maxTokens: Int
    public var stop: [String]
    public var temperature: Double
    public var seed: UInt64

    public init(messages: [ChatMessage], assistantPrefix: String = "", maxTokens: Int,
                stop: [String] = [], temperature: Double = 0, seed: UInt64 = 0) {
        self.messages = messages
        self.assistantPrefix = assistantPrefix
        self.maxTokens = maxTokens
        self.stop = stop
        self.temperature = temperature
        self.seed = seed
    }
}

/// What the LLM strategies need from a model, whether it runs in this process
/// or behind an OpenAI-compatible server.
public protocol LanguageModel: Sendable {
    /// Names the model in reports and cache keys.
    var identifier: String { get }

    /// Natural-log probabilities of each candidate string being the next token
    /// of the assistant's answer (after `assistantPrefix`). A candidate is
    /// matched by its first token; `nil` where the backend cannot tell (e.g.
    /// the candidate is missing from a server's top log-probabilities).
    func nextTokenLogProbabilities(
        for messages: [ChatMessage], assistantPrefix: String, candidates: [String]
    ) async throws -> [Double?]

    /// Generates the assistant's answer.
    func generate(_ request: GenerationRequest) async throws -> String

    /// Shortens `text` to at most `maxTokens` tokens of this model's tokenizer.
    func truncate(_ text: String, maxTokens: Int) async throws -> String
}

/// P(first) among two candidates from their log-probabilities, softmax-normalised
/// over the pair. A missing side counts as far below the other; both missing is
/// an error, since any number would be invented.
public func pairProbability(_ first: Double?, _ second: Double?, model: String) throws -> Double {
    switch (first, second) {
    case let (a?, b?):
        let m = max(a, b)
        let ea = exp(a - m), eb = exp(b - m)
        return ea / (ea + eb)
    case (.some, nil): return 1
    case (nil, .some): return 0
    case (nil, nil):
        throw RerankingError.modelOutput(model: model, reason: "neither answer token is among the returned log-probabilities")
    }
}
