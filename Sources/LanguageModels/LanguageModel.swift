import Foundation
import Grammar
import Models
@_exported import struct Models.ChatMessage

/// The shape a generated answer must have (OpenAI's `response_format`).
/// The native engine enforces it by constrained decoding, so the output
/// always parses (unless `maxTokens` cuts it off); OpenAI-compatible servers
/// get it as `response_format`.
public enum ResponseFormat: Sendable, Hashable {
    /// Any JSON object.
    case jsonObject
    /// JSON valid under `schema` (JSON Schema text; see `JSONSchemaGrammar`
    /// for the subset enforced natively). `name` is what OpenAI's API requires
    /// alongside the schema ([a-zA-Z0-9_-], at most 64 characters).
    case jsonSchema(name: String, schema: String)
    /// A GBNF grammar (llama.cpp's syntax; start symbol `root`). Sent to
    /// servers as llama.cpp's `grammar` field, which OpenAI's API does not know.
    case grammar(String)

    /// The grammar the native engine decodes with.
    public func compile() throws -> Grammar {
        switch self {
        case .jsonObject: return try JSONSchemaGrammar.jsonObject()
        case let .jsonSchema(name, schema): return try JSONSchemaGrammar.grammar(schema: schema, source: "schema '\(name)'")
        case .grammar(let text): return try Grammar(gbnf: text, source: "<grammar>")
        }
    }

    /// A key naming this format in caches.
    var cacheKey: String {
        switch self {
        case .jsonObject: return "json_object"
        case let .jsonSchema(name, schema): return "json_schema\u{0}\(name)\u{0}\(schema)"
        case .grammar(let text): return "grammar\u{0}\(text)"
        }
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
    /// When set, the answer (after `assistantPrefix`) must have this shape.
    public var responseFormat: ResponseFormat?

    public init(messages: [ChatMessage], assistantPrefix: String = "", maxTokens: Int,
                stop: [String] = [], temperature: Double = 0, seed: UInt64 = 0,
                responseFormat: ResponseFormat? = nil) {
        self.messages = messages
        self.assistantPrefix = assistantPrefix
        self.maxTokens = maxTokens
        self.stop = stop
        self.temperature = temperature
        self.seed = seed
        self.responseFormat = responseFormat
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

extension TextGenerator {
    /// The compiled grammar of `format`, cached with this generator's vocabulary.
    public func grammar(for format: ResponseFormat) throws -> Grammar {
        try constrainedVocabulary.grammar(key: format.cacheKey) { try format.compile() }
    }
}
