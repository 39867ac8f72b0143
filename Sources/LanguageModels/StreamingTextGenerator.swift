import Foundation

/// What a text generator is asked to continue: chat turns (rendered with the
/// model's own chat template) or a raw prompt used verbatim.
public enum GenerationPrompt: Sendable, Hashable {
    /// A trailing `.assistant` message is continued, not closed, so callers can
    /// force the start of the answer (the OpenAI servers' "prefill").
    case chat([ChatMessage])
    case raw(String)
}

/// A generation request with everything the OpenAI endpoints expose.
public struct TextGenerationRequest: Sendable, Hashable {
    public var prompt: GenerationPrompt
    public var maxTokens: Int
    /// 0 is greedy decoding.
    public var temperature: Double
    public var topP: Double
    /// Same seed, same request, same model: same tokens.
    public var seed: UInt64
    /// Generation ends before the first occurrence of any of these strings,
    /// which is not part of the output (see `StopSequenceFilter`).
    public var stop: [String]
    /// How many alternatives to report with each token's log-probability (0: none).
    public var topLogProbabilities: Int
    /// When set, the generated text must have this shape (constrained decoding).
    public var responseFormat: ResponseFormat?

    public init(prompt: GenerationPrompt, maxTokens: Int, temperature: Double = 0, topP: Double = 1,
                seed: UInt64 = 0, stop: [String] = [], topLogProbabilities: Int = 0,
                responseFormat: ResponseFormat? = nil) {
        self.responseFormat = responseFormat
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
        self.stop = stop
        self.topLogProbabilities = topLogProbabilities
    }
}

/// One alternative at a generation step.
public struct TokenLogProbability: Sendable, Hashable, Codable {
    public var token: String
    /// Natural log of the token's probability under the model's (untempered) distribution.
    public var logProbability: Double

    public init(token: String, logProbability: Double) {
        self.token = token
        self.logProbability = logProbability
    }
}

/// One generated token with its text (possibly a fragment of a UTF-8
/// character sequence is joined into the next token's text by the generator,
/// so `text` is always valid) and its log-probabilities.
public struct GeneratedToken: Sendable, Hashable {
    public var id: Int
    public var text: String
    public var logProbability: Double
    /// Best alternatives at this step, most probable first; empty unless requested.
    public var topLogProbabilities: [TokenLogProbability]

    public init(id: Int, text: String, logProbability: Double, topLogProbabilities: [TokenLogProbability] = []) {
        self.id = id
        self.text = text
        self.logProbability = logProbability
        self.topLogProbabilities = topLogProbabilities
    }
}

public enum FinishReason: String, Sendable, Hashable, Codable {
    /// The model emitted its end-of-sequence token or a stop string matched.
    case stop
    /// `maxTokens` (or the context window) was reached.
    case length
}

public struct TokenUsage: Sendable, Hashable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int { promptTokens + completionTokens }

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// Events of one generation: `.started` first, tokens as they are produced,
/// then exactly one `.finished` as the last element.
public enum GenerationEvent: Sendable, Hashable {
    /// The prompt was tokenized; how many tokens it holds.
    case started(promptTokens: Int)
    case token(GeneratedToken)
    case finished(FinishReason, TokenUsage)
}

/// The richer interface the server's OpenAI endpoints need: token streaming
/// with per-token log-probabilities, seed, stop and usage counts.
public protocol StreamingTextGenerator: Sendable {
    var identifier: String { get }
    /// Tokens the model can attend to (prompt plus completion).
    var contextLength: Int { get }
    func stream(_ request: TextGenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error>
    func countTokens(_ text: String) async throws -> Int
    /// Shortens `text` to at most `maxTokens` tokens of this model's tokenizer.
    func truncate(_ text: String, maxTokens: Int) async throws -> String
}

/// The result of collecting a whole stream.
public struct GenerationOutput: Sendable, Hashable {
    public var text: String
    public var tokens: [GeneratedToken]
    public var finishReason: FinishReason
    public var usage: TokenUsage
}

extension StreamingTextGenerator {
    /// Runs `request` to completion, applying its stop strings.
    public func generateAll(_ request: TextGenerationRequest) async throws -> GenerationOutput {
        var filter = StopSequenceFilter(stop: request.stop)
        var text = ""
        var tokens: [GeneratedToken] = []
        var promptTokens = 0
        for try await event in stream(request) {
            switch event {
            case .started(let count):
                promptTokens = count
            case .token(let token):
                let step = filter.feed(token.text)
                text += step.emit
                tokens.append(token)
                if step.stopped {
                    return GenerationOutput(text: text, tokens: tokens, finishReason: .stop,
                                            usage: TokenUsage(promptTokens: promptTokens, completionTokens: tokens.count))
                }
            case let .finished(reason, usage):
                text += filter.flush()
                return GenerationOutput(text: text, tokens: tokens, finishReason: reason, usage: usage)
            }
        }
        throw LanguageModelError.malformedResponse(endpoint: identifier, reason: "generation ended without a finish event")
    }
}

/// Cuts streamed text before the first stop string, holding back only the
/// tail that could still be the start of one, so streamed output never shows
/// a stop string's prefix that later turns out to be part of it.
public struct StopSequenceFilter: Sendable {
    public let stop: [String]
    private var pending = ""
    public private(set) var stopped = false

    public init(stop: [String]) {
        self.stop = stop.filter { !$0.isEmpty }
    }

    /// Text safe to emit after adding `fragment`, and whether a stop string matched.
    public mutating func feed(_ fragment: String) -> (emit: String, stopped: Bool) {
        guard !stopped else { return ("", true) }
        pending += fragment
        guard !stop.isEmpty else {
            defer { pending = "" }
            return (pending, false)
        }
        // Earliest match of any stop string wins.
        var earliest: String.Index?
        for s in stop {
            if let r = pending.range(of: s), earliest.map({ r.lowerBound < $0 }) ?? true {
                earliest = r.lowerBound
            }
        }
        if let cut = earliest {
            stopped = true
            let emit = String(pending[..<cut])
            pending = ""
            return (emit, true)
        }
        // Hold back the longest suffix of `pending` that is a proper prefix of a stop string.
        var hold = 0
        for s in stop {
            let maxLength = min(s.count - 1, pending.count)
            if maxLength <= hold { continue }
            for length in stride(from: maxLength, to: hold, by: -1)
            where pending.hasSuffix(String(s.prefix(length))) {
                hold = length
                break
            }
        }
        let emitEnd = pending.index(pending.endIndex, offsetBy: -hold)
        let emit = String(pending[..<emitEnd])
        pending = String(pending[emitEnd...])
        return (emit, false)
    }

    /// Whatever was held back, once the stream ends without a match.
    public mutating func flush() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }
}
