import Foundation
import Grammar
import LanguageModels

/// OpenAI's `response_format`: `{"type": "text" | "json_object"}` or
/// `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
struct ResponseFormatField: Decodable, Sendable {
    struct JSONSchema: Decodable, Sendable {
        var name: String?
        var schema: JSONValue?
        var strict: Bool?
        var description: String?
    }
    var type: String
    var json_schema: JSONSchema?
}

/// `stop` as the OpenAI API takes it: one string or up to four.
struct StopField: Decodable, Sendable {
    var values: [String]
    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let text = try? single.decode(String.self) {
            values = [text]
        } else {
            values = try single.decode([String].self)
        }
    }
}

/// Message content: a string, or an array of parts of which only `text` parts are supported.
struct MessageContent: Decodable, Sendable {
    var text: String
    private struct Part: Decodable { var type: String; var text: String? }
    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let text = try? single.decode(String.self) {
            self.text = text
            return
        }
        let parts: [Part]
        do {
            parts = try single.decode([Part].self)
        } catch {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath, debugDescription: "'content' must be a string or an array of text parts"))
        }
        var text = ""
        for part in parts {
            guard part.type == "text", let partText = part.text else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath, debugDescription: "only text content parts are supported, got '\(part.type)'"))
            }
            text += partText
        }
        self.text = text
    }
}

struct WireMessage: Decodable, Sendable {
    var role: String
    var content: MessageContent
}

struct StreamOptions: Decodable, Sendable { var include_usage: Bool? }

struct ChatCompletionRequest: Decodable, Sendable {
    var model: String?
    var messages: [WireMessage]
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var temperature: Double?
    var top_p: Double?
    var seed: Int64?
    var stop: StopField?
    var stream: Bool?
    var stream_options: StreamOptions?
    var logprobs: Bool?
    var top_logprobs: Int?
    var n: Int?
    /// vLLM's extensions for continuing a trailing assistant message; accepted
    /// for compatibility, since a trailing assistant message is always continued here.
    var continue_final_message: Bool?
    var add_generation_prompt: Bool?
    var response_format: ResponseFormatField?
    /// llama.cpp's server extension: a GBNF grammar the output must match.
    var grammar: String?
}

struct CompletionRequest: Decodable, Sendable {
    enum Prompt: Decodable, Sendable {
        case text(String)
        init(from decoder: Decoder) throws {
            let single = try decoder.singleValueContainer()
            if let text = try? single.decode(String.self) {
                self = .text(text)
            } else if let texts = try? single.decode([String].self), texts.count == 1 {
                self = .text(texts[0])
            } else {
                throw DecodingError.typeMismatch(String.self, .init(
                    codingPath: decoder.codingPath, debugDescription: "'prompt' must be a string (or an array of exactly one string)"))
            }
        }
    }
    var model: String?
    var prompt: Prompt
    var max_tokens: Int?
    var temperature: Double?
    var top_p: Double?
    var seed: Int64?
    var stop: StopField?
    var stream: Bool?
    var stream_options: StreamOptions?
    /// The legacy API's number of alternatives per token.
    var logprobs: Int?
    var echo: Bool?
    var n: Int?
    var suffix: String?
    var response_format: ResponseFormatField?
    var grammar: String?
}

// MARK: responses

struct WireUsage: Encodable, Sendable {
    var prompt_tokens: Int
    var completion_tokens: Int
    var total_tokens: Int
    init(_ usage: TokenUsage) {
        prompt_tokens = usage.promptTokens
        completion_tokens = usage.completionTokens
        total_tokens = usage.totalTokens
    }
}

struct ChatLogProb: Encodable, Sendable {
    struct Alternative: Encodable, Sendable { var token: String; var logprob: Double; var bytes: [UInt8] }
    var token: String
    var logprob: Double
    var bytes: [UInt8]
    var top_logprobs: [Alternative]

    init(_ token: GeneratedToken) {
        self.token = token.text
        logprob = token.logProbability
        bytes = Array(token.text.utf8)
        top_logprobs = token.topLogProbabilities.map { .init(token: $0.token, logprob: $0.logProbability, bytes: Array($0.token.utf8)) }
    }
}

struct ChatLogProbs: Encodable, Sendable { var content: [ChatLogProb] }

/// Choice of a chat completion or of a streamed chunk; `finish_reason` and
/// `logprobs` are written as explicit nulls, as OpenAI does.
struct ChatChoice: Encodable, Sendable {
    struct Message: Encodable, Sendable { var role: String?; var content: String? }
    var index = 0
    var message: Message?
    var delta: Message?
    var logprobs: ChatLogProbs?
    var finish_reason: FinishReason?

    enum CodingKeys: String, CodingKey { case index, message, delta, logprobs, finish_reason }
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(delta, forKey: .delta)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finish_reason, forKey: .finish_reason)
    }
}

struct ChatCompletion: Encodable, Sendable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [ChatChoice]
    var usage: WireUsage?
}

struct CompletionLogProbs: Encodable, Sendable {
    var tokens: [String] = []
    var token_logprobs: [Double] = []
    var top_logprobs: [[String: Double]] = []
    var text_offset: [Int] = []

    init() {}

    /// Entries for `tokens`, whose text starts at character `offset` of the
    /// completion; `offset` is advanced past them (streams continue from it).
    init(_ tokens: [GeneratedToken], offset: inout Int) {
        for token in tokens {
            append(token, offset: offset)
            offset += token.text.count
        }
    }

    mutating func append(_ token: GeneratedToken, offset: Int) {
        tokens.append(token.text)
        token_logprobs.append(token.logProbability)
        var top: [String: Double] = [:]
        for alternative in token.topLogProbabilities where top[alternative.token] == nil {
            top[alternative.token] = alternative.logProbability
        }
        top_logprobs.append(top)
        text_offset.append(offset)
    }
}

struct CompletionChoice: Encodable, Sendable {
    var index = 0
    var text: String
    var logprobs: CompletionLogProbs?
    var finish_reason: FinishReason?

    enum CodingKeys: String, CodingKey { case index, text, logprobs, finish_reason }
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(text, forKey: .text)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finish_reason, forKey: .finish_reason)
    }
}

struct Completion: Encodable, Sendable {
    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [CompletionChoice]
    var usage: WireUsage?
}
