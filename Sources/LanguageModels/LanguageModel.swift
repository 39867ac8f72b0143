import Foundation
@_exported import struct Models.ChatMessage

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

/// A model that can also say what a generation cost in tokens: exactly, from
/// its own tokenizer in process, or from an OpenAI-compatible server's `usage`.
public protocol TokenUsageReporting: LanguageModel {
    /// The generated text and its token usage (nil when the backend did not report it).
    func generateReportingUsage(_ request: GenerationRequest) async throws -> (text: String, usage: TokenUsage?)
}
