import AsyncHTTPClient
import Foundation
import Grammar
import LanguageModels
import NIOCore
import Synchronization

/// Renders chat turns into one raw prompt string, for servers reached through
/// /v1/completions (no chat template on the server side). `{content}` in each
/// role's format is replaced by the message text.
public struct RawPromptFormat: Sendable, Hashable {
    public var system: String
    public var user: String
    public var assistant: String
    /// Opens the assistant's answer; the forced prefix follows it.
    public var generationPrefix: String

    public init(system: String, user: String, assistant: String, generationPrefix: String) {
        self.system = system
        self.user = user
        self.assistant = assistant
        self.generationPrefix = generationPrefix
    }

    /// ChatML, as SmolLM2 and Qwen use.
    public static let chatML = RawPromptFormat(
        system: "<|im_start|>system\n{content}<|im_end|>\n",
        user: "<|im_start|>user\n{content}<|im_end|>\n",
        assistant: "<|im_start|>assistant\n{content}<|im_end|>\n",
        generationPrefix: "<|im_start|>assistant\n")

    public func render(_ messages: [ChatMessage], assistantPrefix: String) -> String {
        var prompt = ""
        for message in messages {
            let format: String
            switch message.role {
            case .system: format = system
            case .user: format = user
            case .assistant: format = assistant
            }
            prompt += format.replacingOccurrences(of: "{content}", with: message.content)
        }
        return prompt + generationPrefix + assistantPrefix
    }
}

/// Where and how to reach an OpenAI-compatible server (vLLM, llama.cpp's
/// server, Ollama, OpenAI, or `limrank serve`).
public struct OpenAICompatibleConfiguration: Sendable {
    /// Up to and including the version path, e.g. `http://127.0.0.1:8080/v1`.
    public var baseURL: String
    public var model: String
    /// Name of the environment variable holding the API key (sent as a bearer
    /// token); nil sends no Authorization header.
    public var apiKeyVariable: String?
    /// When set, requests go to /v1/completions with this rendering instead of
    /// /v1/chat/completions.
    public var rawPromptFormat: RawPromptFormat?
    /// Per attempt, for the whole request including the body.
    public var timeoutSeconds: Double
    /// Attempts after the first, on 429, 5xx, timeouts and connection errors.
    public var maxRetries: Int
    /// Backoff before retry n is uniform in [0, min(maxBackoff, initialBackoff·2ⁿ⁻¹)]
    /// ("full jitter"), unless the server sent Retry-After.
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    /// Retry-After values beyond this are capped, so a confused server cannot park the client.
    public var maxRetryAfterSeconds: Double
    public var maxConcurrentRequests: Int
    /// Alternatives asked for when scoring (OpenAI allows at most 20).
    public var topLogProbabilities: Int
    /// For `truncate` without a tokenizer: characters per token of English
    /// text under a BPE vocabulary of ~50k entries (GPT-2, Llama, SmolLM2
    /// measure 3.8–4.4), rounded down so truncation errs on the short side.
    public var charactersPerToken: Double
    public var maxResponseBytes: Int
    /// How candidates are found among the returned alternatives (see `CandidateTokenMatching`).
    public var candidateMatching: CandidateTokenMatching

    public init(baseURL: String, model: String, apiKeyVariable: String? = nil,
                rawPromptFormat: RawPromptFormat? = nil, timeoutSeconds: Double = 60,
                maxRetries: Int = 4, initialBackoffSeconds: Double = 0.25, maxBackoffSeconds: Double = 8,
                maxRetryAfterSeconds: Double = 60, maxConcurrentRequests: Int = 4,
                topLogProbabilities: Int = 20, charactersPerToken: Double = 3.5,
                maxResponseBytes: Int = 16 << 20, candidateMatching: CandidateTokenMatching = .normalized) {
        self.baseURL = baseURL
        self.model = model
        self.apiKeyVariable = apiKeyVariable
        self.rawPromptFormat = rawPromptFormat
        self.timeoutSeconds = timeoutSeconds
        self.maxRetries = maxRetries
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
        self.maxConcurrentRequests = maxConcurrentRequests
        self.topLogProbabilities = topLogProbabilities
        self.charactersPerToken = charactersPerToken
        self.maxResponseBytes = maxResponseBytes
        self.candidateMatching = candidateMatching
    }
}

/// A `LanguageModel` behind an OpenAI-compatible HTTP server.
///
/// Scoring asks for one token (`max_tokens` 1, temperature 0) with
/// `logprobs`/`top_logprobs` and reads the candidates with
/// `CandidateTokenMatching`. A forced assistant prefix is sent as a trailing
/// assistant message with vLLM's `continue_final_message` (llama.cpp's server
/// and `limrank serve` continue a trailing assistant message on their own).
public struct OpenAICompatibleModel: LanguageModel, TokenUsageReporting {
    public let configuration: OpenAICompatibleConfiguration
    private let client: HTTPClient
    private let apiKey: String?
    private let gate: AsyncSemaphore
    /// The native tokenizer's truncation, when the caller has one for this model.
    private let truncator: (@Sendable (String, Int) async throws -> String)?
    /// Sees every request, for progress lines (nil: nobody is counting).
    public let monitor: RequestMonitor?
    /// Set once the server has refused `json_schema` (`refusesJSONSchema`);
    /// shared by the copies of this model, which talk to the same server.
    private let schemaAsJSONObject = SharedFlag()

    public var identifier: String { "openai:" + configuration.model }

    /// AsyncHTTPClient's shared client keeps re-dialling a refused port until
    /// the request deadline, so one attempt against a dead server took the
    /// whole timeout. This model retries with its own budget and backoff, so
    /// its client gives up on a failed connect at once.
    public static let defaultClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        // The pool's default of 8 connections per host would cap a
        // `--concurrency 64` run at 8 requests in flight; the model's own
        // permit count (`maxConcurrentRequests`) is the limit that applies.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 512
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(_ configuration: OpenAICompatibleConfiguration, client: HTTPClient = OpenAICompatibleModel.defaultClient,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                truncator: (@Sendable (String, Int) async throws -> String)? = nil, monitor: RequestMonitor? = nil) throws {
        guard let url = URL(string: configuration.baseURL), let scheme = url.scheme,
              ["http", "https"].contains(scheme.lowercased()), url.host != nil else {
            throw LanguageModelError.invalidConfiguration(field: "baseURL", reason: "'\(configuration.baseURL)' is not an http(s) URL")
        }
        if configuration.model.isEmpty {
            throw LanguageModelError.invalidConfiguration(field: "model", reason: "empty")
        }
        for (field, value) in [("timeoutSeconds", configuration.timeoutSeconds),
                               ("charactersPerToken", configuration.charactersPerToken)] where !(value > 0) {
            throw LanguageModelError.invalidConfiguration(field: field, reason: "must be positive, got \(value)")
        }
        if configuration.maxRetries < 0 || configuration.maxConcurrentRequests < 1 {
            throw LanguageModelError.invalidConfiguration(
                field: "maxRetries/maxConcurrentRequests", reason: "need maxRetries >= 0 and maxConcurrentRequests >= 1")
        }
        if let variable = configuration.apiKeyVariable {
            guard let key = environment[variable], !key.isEmpty else { throw LanguageModelError.missingAPIKey(variable: variable) }
            apiKey = key
        } else {
            apiKey = nil
        }
        self.configuration = configuration
        self.client = client
        self.gate = AsyncSemaphore(permits: configuration.maxConcurrentRequests)
        self.truncator = truncator
        self.monitor = monitor
    }

    // MARK: LanguageModel

    public func nextTokenLogProbabilities(
        for messages: [ChatMessage], assistantPrefix: String, candidates: [String]
    ) async throws -> [Double?] {
        if candidates.isEmpty { throw LanguageModelError.invalidInput("no candidate tokens to score") }
        let top = max(1, configuration.topLogProbabilities)
        let alternatives: [TokenLogProbability]
        if let format = configuration.rawPromptFormat {
            let body = CompletionBody(model: configuration.model, prompt: format.render(messages, assistantPrefix: assistantPrefix),
                                      max_tokens: 1, temperature: 0, logprobs: top, stop: nil, seed: nil)
            let endpoint = "/completions"
            let response: CompletionResponse = try await post(endpoint, body)
            guard let choice = response.choices.first else {
                throw LanguageModelError.malformedResponse(endpoint: url(endpoint), reason: "no choices")
            }
            guard let logprobs = choice.logprobs, let first = logprobs.top_logprobs?.first ?? nil else {
                throw LanguageModelError.noLogProbabilities(endpoint: url(endpoint), model: configuration.model)
            }
            var list = first.map { TokenLogProbability(token: $0.key, logProbability: $0.value) }
            if let token = logprobs.tokens?.first, let value = logprobs.token_logprobs?.first ?? nil {
                list.append(TokenLogProbability(token: token, logProbability: value))
            }
            alternatives = list
        } else {
            let body = chatBody(messages, assistantPrefix: assistantPrefix, maxTokens: 1, stop: nil, seed: nil,
                                logprobs: true, topLogprobs: top)
            let endpoint = "/chat/completions"
            let response: ChatResponse = try await post(endpoint, body)
            guard let choice = response.choices.first else {
                throw LanguageModelError.malformedResponse(endpoint: url(endpoint), reason: "no choices")
            }
            guard let first = choice.logprobs?.content?.first else {
                throw LanguageModelError.noLogProbabilities(endpoint: url(endpoint), model: configuration.model)
            }
            alternatives = (first.top_logprobs ?? []).map { TokenLogProbability(token: $0.token, logProbability: $0.logprob) }
                + [TokenLogProbability(token: first.token, logProbability: first.logprob)]
        }
        return CandidateTokenMatching.logProbabilities(of: candidates, in: alternatives, rule: configuration.candidateMatching)
    }

    public func generate(_ request: GenerationRequest) async throws -> String {
        try await generateReportingUsage(request).text
    }

    public func generateReportingUsage(_ request: GenerationRequest) async throws -> (text: String, usage: TokenUsage?) {
        if request.maxTokens < 1 { throw LanguageModelError.invalidInput("maxTokens must be at least 1, got \(request.maxTokens)") }
        let seed = request.seed <= UInt64(Int64.max) ? Int64(request.seed) : nil
        let (responseFormat, grammar) = try Self.wireFormat(request.responseFormat)
        if let format = configuration.rawPromptFormat {
            var body = CompletionBody(model: configuration.model,
                                      prompt: format.render(request.messages, assistantPrefix: request.assistantPrefix),
                                      max_tokens: request.maxTokens, temperature: request.temperature, logprobs: nil,
                                      stop: request.stop.isEmpty ? nil : request.stop, seed: seed)
            body.response_format = responseFormat
            body.grammar = grammar
            let response: CompletionResponse = try await post("/completions", body)
            guard let text = response.choices.first?.text else {
                throw LanguageModelError.malformedResponse(endpoint: url("/completions"), reason: "no choices[0].text")
            }
            return (text, response.usage?.tokenUsage)
        }
        var body = chatBody(request.messages, assistantPrefix: request.assistantPrefix, maxTokens: request.maxTokens,
                            stop: request.stop.isEmpty ? nil : request.stop, seed: seed, logprobs: nil, topLogprobs: nil)
        body.temperature = request.temperature
        body.response_format = schemaAsJSONObject.isSet ? responseFormat?.jsonObjectSchema ?? responseFormat : responseFormat
        body.grammar = grammar
        let response: ChatResponse
        do {
            response = try await post("/chat/completions", body)
        } catch let error as LanguageModelError where Self.refusesJSONSchema(error, sent: body.response_format) {
            schemaAsJSONObject.set()
            body.response_format = responseFormat?.jsonObjectSchema
            response = try await post("/chat/completions", body)
        }
        guard let text = response.choices.first?.message?.content else {
            throw LanguageModelError.malformedResponse(endpoint: url("/chat/completions"), reason: "no choices[0].message.content")
        }
        return (text, response.usage?.tokenUsage)
    }

    /// llama-cpp-python's server (0.3.36) takes a schema only as
    /// `{"type": "json_object", "schema": ...}` and refuses OpenAI's
    /// `json_schema` type with a validation error naming `response_format`
    /// (sent as a 500, after which the usual retries have run; other
    /// servers would send 400 or 422). Such a refusal is answered by sending
    /// the same schema in that shape, at once and for the model's later requests.
    static func refusesJSONSchema(_ error: LanguageModelError, sent: WireResponseFormat?) -> Bool {
        guard sent?.type == "json_schema", case let .httpStatus(_, status, body) = error else { return false }
        return [400, 422, 500].contains(status) && body.contains("response_format")
    }

    /// `response_format` as OpenAI spells it (a strict JSON schema, or any
    /// JSON object), or llama.cpp's `grammar` field for a GBNF grammar.
    static func wireFormat(_ format: ResponseFormat?) throws -> (WireResponseFormat?, String?) {
        switch format {
        case nil: return (nil, nil)
        case .jsonObject?: return (WireResponseFormat(type: "json_object"), nil)
        case let .jsonSchema(name, schema)?:
            let value: JSONValue
            do {
                value = try JSONValue(parsing: schema, source: "schema '\(name)'")
            } catch {
                throw LanguageModelError.invalidInput("response format: \(error)")
            }
            return (WireResponseFormat(type: "json_schema", json_schema: .init(name: name, schema: value, strict: true)), nil)
        case .grammar(let text)?: return (nil, text)
        }
    }

    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        if maxTokens < 0 { throw LanguageModelError.invalidInput("maxTokens must not be negative, got \(maxTokens)") }
        if let truncator { return try await truncator(text, maxTokens) }
        return Self.truncateByCharacters(text, maxCharacters: Int(Double(maxTokens) * configuration.charactersPerToken))
    }

    /// Cuts at the last whitespace before the limit so no word is split,
    /// unless that would drop more than a fifth of the allowance.
    public static func truncateByCharacters(_ text: String, maxCharacters: Int) -> String {
        guard text.count > maxCharacters else { return text }
        let hard = text.index(text.startIndex, offsetBy: max(0, maxCharacters))
        let head = text[..<hard]
        if let space = head.lastIndex(where: \.isWhitespace),
           text.distance(from: text.startIndex, to: space) * 5 >= maxCharacters * 4 {
            return String(text[..<space])
        }
        return String(head)
    }

    // MARK: HTTP

    private func url(_ endpoint: String) -> String {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + endpoint
    }

    private func chatBody(_ messages: [ChatMessage], assistantPrefix: String, maxTokens: Int, stop: [String]?,
                          seed: Int64?, logprobs: Bool?, topLogprobs: Int?) -> ChatBody {
        var all = messages
        let prefill = !assistantPrefix.isEmpty
        if prefill { all.append(ChatMessage(.assistant, assistantPrefix)) }
        return ChatBody(model: configuration.model, messages: all, max_tokens: maxTokens, temperature: 0,
                        logprobs: logprobs, top_logprobs: topLogprobs, stop: stop, seed: seed,
                        continue_final_message: prefill ? true : nil, add_generation_prompt: prefill ? false : nil)
    }

    private func post<Body: Encodable, Answer: Decodable>(_ endpoint: String, _ body: Body) async throws -> Answer {
        let target = url(endpoint)
        let payload = try JSONEncoder().encode(body)
        let monitor = self.monitor
        let data = try await gate.withPermit {
            monitor?.begin()
            do {
                let data = try await send(target, payload)
                let usage = monitor == nil ? nil : (try? JSONDecoder().decode(UsageEnvelope.self, from: data))?.usage
                monitor?.end(promptTokens: usage?.prompt_tokens, completionTokens: usage?.completion_tokens)
                return data
            } catch {
                monitor?.abandon()
                throw error
            }
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            if let failure = try? JSONDecoder().decode(ErrorEnvelope.self, from: data) {
                throw LanguageModelError.malformedResponse(endpoint: target, reason: "error object: \(failure.error.message)")
            }
            throw LanguageModelError.malformedResponse(endpoint: target, reason: "\(Self.describe(error)); body starts "
                + String(decoding: data.prefix(200), as: UTF8.self).debugDescription)
        }
    }

    /// One POST with retries; returns the body of a 2xx answer.
    private func send(_ target: String, _ payload: Data) async throws -> Data {
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: target)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "application/json")
            if let apiKey { request.headers.add(name: "Authorization", value: "Bearer " + apiKey) }
            request.body = .bytes(ByteBuffer(bytes: payload))
            let retryDelay: Double
            do {
                let response = try await client.execute(request, timeout: .milliseconds(Int64(configuration.timeoutSeconds * 1000)))
                let status = Int(response.status.code)
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
                let buffer = try await response.body.collect(upTo: configuration.maxResponseBytes)
                if (200..<300).contains(status) { return Data(buffer.readableBytesView) }
                let text = String(decoding: buffer.readableBytesView.prefix(500), as: UTF8.self)
                guard Self.isRetryable(status: status), attempt <= configuration.maxRetries else {
                    throw LanguageModelError.httpStatus(endpoint: target, status: status, body: text)
                }
                retryDelay = retryAfter.map { min($0, configuration.maxRetryAfterSeconds) } ?? backoff(attempt)
            } catch let error as LanguageModelError {
                throw error
            } catch let error as HTTPClientError
                where [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
                guard attempt <= configuration.maxRetries else {
                    throw LanguageModelError.timedOut(endpoint: target, seconds: configuration.timeoutSeconds, attempts: attempt)
                }
                retryDelay = backoff(attempt)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if let error = error as? HTTPClientError, [.invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown].contains(error) {
                    throw LanguageModelError.invalidConfiguration(field: "baseURL", reason: "\(error)")
                }
                if error is NIOTooManyBytesError {
                    throw LanguageModelError.malformedResponse(
                        endpoint: target, reason: "response larger than \(configuration.maxResponseBytes) bytes")
                }
                guard attempt <= configuration.maxRetries else {
                    throw LanguageModelError.connectionFailed(endpoint: target, reason: Self.describe(error), attempts: attempt)
                }
                retryDelay = backoff(attempt)
            }
            try await Task.sleep(for: .milliseconds(Int64(retryDelay * 1000)))
        }
    }

    private func backoff(_ attempt: Int) -> Double {
        let ceiling = min(configuration.maxBackoffSeconds,
                          configuration.initialBackoffSeconds * pow(2, Double(min(attempt - 1, 30))))
        return Double.random(in: 0...max(0, ceiling))
    }

    static func isRetryable(status: Int) -> Bool {
        status == 429 || status == 408 || (500...599).contains(status) && status != 501
    }

    /// Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
    public static func parseRetryAfter(_ value: String) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    private static func describe(_ error: Error) -> String {
        if let error = error as? DecodingError {
            switch error {
            case let .keyNotFound(key, context):
                return "missing key '\(key.stringValue)' at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
                return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            @unknown default:
                return "\(error)"
            }
        }
        return "\(error)"
    }
}

// Wire shapes, spelled as the OpenAI API spells them; only what is read.
/// A flag the copies of a model share (a reference to one atomic).
private final class SharedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

private struct ChatBody: Encodable {
    var model: String
    var messages: [ChatMessage]
    var max_tokens: Int
    var temperature: Double
    var logprobs: Bool?
    var top_logprobs: Int?
    var stop: [String]?
    var seed: Int64?
    var continue_final_message: Bool?
    var add_generation_prompt: Bool?
    var response_format: WireResponseFormat?
    /// llama.cpp's server extension: a GBNF grammar.
    var grammar: String?
}

struct WireResponseFormat: Encodable, Equatable {
    struct Schema: Encodable, Equatable {
        var name: String
        var schema: JSONValue
        var strict: Bool
    }
    var type: String
    var json_schema: Schema?
    /// llama-cpp-python's (and Anyscale's) spelling: `json_object` with the schema beside it.
    var schema: JSONValue?

    /// This schema in llama-cpp-python's shape; nil when there is no schema.
    var jsonObjectSchema: WireResponseFormat? {
        json_schema.map { WireResponseFormat(type: "json_object", schema: $0.schema) }
    }
}

private struct CompletionBody: Encodable {
    var model: String
    var prompt: String
    var max_tokens: Int
    var temperature: Double
    var logprobs: Int?
    var stop: [String]?
    var seed: Int64?
    var response_format: WireResponseFormat?
    var grammar: String?
}

private struct ChatResponse: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable { var content: String? }
        struct LogProbs: Decodable {
            struct Entry: Decodable {
                struct Alternative: Decodable { var token: String; var logprob: Double }
                var token: String
                var logprob: Double
                var top_logprobs: [Alternative]?
            }
            var content: [Entry]?
        }
        var message: Message?
        var logprobs: LogProbs?
    }
    var choices: [Choice]
    var usage: WireUsage?
}

/// The OpenAI `usage` object; servers that omit it leave usage unknown.
private struct WireUsage: Decodable {
    var prompt_tokens: Int?
    var completion_tokens: Int?
    var tokenUsage: TokenUsage? {
        guard let prompt_tokens, let completion_tokens else { return nil }
        return TokenUsage(promptTokens: prompt_tokens, completionTokens: completion_tokens)
    }
}

private struct CompletionResponse: Decodable {
    struct Choice: Decodable {
        struct LogProbs: Decodable {
            var tokens: [String]?
            var token_logprobs: [Double?]?
            var top_logprobs: [[String: Double]?]?
        }
        var text: String
        var logprobs: LogProbs?
    }
    var choices: [Choice]
    var usage: WireUsage?
}

private struct UsageEnvelope: Decodable {
    var usage: WireUsage?
}

private struct ErrorEnvelope: Decodable {
    struct Body: Decodable { var message: String }
    var error: Body
}

// MARK: Raw prompts (/v1/completions with the prompt string as it is)

/// Raw prompts go to /v1/completions whatever `rawPromptFormat` says: the
/// string is the whole prompt, as vLLM, llama.cpp's server and `limrank
/// serve` take it. Scoring reads the top alternatives first; a candidate
/// missing from them is scored exactly by `continuationLogProbability`,
/// which sends `prompt + candidate` with `echo` and reads the log-probability
/// the server gives the candidate's own tokens (vLLM, OpenAI's legacy
/// completions, llama-cpp-python and `limrank serve` support it).
extension OpenAICompatibleModel: RawPromptLanguageModel {
    public func complete(rawPrompt: String, maxTokens: Int, stop: [String]) async throws -> RawCompletion {
        if maxTokens < 1 { throw LanguageModelError.invalidInput("maxTokens must be at least 1, got \(maxTokens)") }
        let body = RawCompletionBody(model: configuration.model, prompt: rawPrompt, max_tokens: maxTokens, temperature: 0,
                                     logprobs: nil, echo: nil, stop: stop.isEmpty ? nil : stop)
        let response: RawCompletionResponse = try await post("/completions", body)
        guard let choice = response.choices.first else {
            throw LanguageModelError.malformedResponse(endpoint: url("/completions"), reason: "no choices")
        }
        // vLLM names the stop string in `stop_reason` (a token id or null
        // for end-of-sequence); servers without it report "stop" for both.
        let stopped: Bool
        switch choice.stop_reason {
        case .absent: stopped = choice.finish_reason == "stop"
        case .string(let s): stopped = choice.finish_reason == "stop" && stop.contains(s)
        case .other: stopped = false
        }
        return RawCompletion(text: choice.text, stoppedOnString: stopped)
    }

    public func nextTokenLogProbabilities(rawPrompt: String, candidates: [String]) async throws -> [Double?] {
        if candidates.isEmpty { throw LanguageModelError.invalidInput("no candidate tokens to score") }
        let body = RawCompletionBody(model: configuration.model, prompt: rawPrompt, max_tokens: 1, temperature: 0,
                                     logprobs: max(1, configuration.topLogProbabilities), echo: nil, stop: nil)
        let response: RawCompletionResponse = try await post("/completions", body)
        guard let logprobs = response.choices.first?.logprobs else {
            throw LanguageModelError.noLogProbabilities(endpoint: url("/completions"), model: configuration.model)
        }
        var alternatives = (logprobs.top_logprobs?.first ?? nil).map { $0.map { TokenLogProbability(token: $0.key, logProbability: $0.value) } } ?? []
        if let token = logprobs.tokens?.first, let value = logprobs.token_logprobs?.first ?? nil {
            alternatives.append(TokenLogProbability(token: token, logProbability: value))
        }
        return CandidateTokenMatching.logProbabilities(of: candidates, in: alternatives, rule: .exact)
    }

    public func continuationLogProbability(rawPrompt: String, continuation: String) async throws -> Double {
        guard !continuation.isEmpty else { throw LanguageModelError.invalidInput("empty continuation") }
        let full = rawPrompt + continuation
        let body = RawCompletionBody(model: configuration.model, prompt: full, max_tokens: 1, temperature: 0,
                                     logprobs: 1, echo: true, stop: nil)
        let endpoint = url("/completions")
        let response: RawCompletionResponse = try await post("/completions", body)
        guard let logprobs = response.choices.first?.logprobs, let tokens = logprobs.tokens,
              let values = logprobs.token_logprobs, let offsets = logprobs.text_offset,
              tokens.count == values.count, tokens.count == offsets.count else {
            throw LanguageModelError.noLogProbabilities(endpoint: endpoint, model: configuration.model)
        }
        // Offsets count characters (code points in vLLM, which the prompts
        // here share with Swift's Characters: ASCII tags and answers).
        let start = rawPrompt.unicodeScalars.count, end = full.unicodeScalars.count
        guard offsets.contains(start) else {
            throw LanguageModelError.malformedResponse(
                endpoint: endpoint, reason: "no echoed token starts where '\(continuation)' does (it merges with the prompt's last token)")
        }
        var text = ""
        var total = 0.0
        for i in tokens.indices where offsets[i] >= start && offsets[i] < end {
            guard let value = values[i] else {
                throw LanguageModelError.malformedResponse(endpoint: endpoint, reason: "echoed token \(i) has no log-probability")
            }
            text += tokens[i]
            total += value
        }
        guard text == continuation else {
            throw LanguageModelError.malformedResponse(
                endpoint: endpoint, reason: "echoed tokens spell '\(text)' where '\(continuation)' was sent")
        }
        return total
    }
}

private struct RawCompletionBody: Encodable {
    var model: String
    var prompt: String
    var max_tokens: Int
    var temperature: Double
    var logprobs: Int?
    var echo: Bool?
    var stop: [String]?
}

private struct RawCompletionResponse: Decodable {
    struct Choice: Decodable {
        struct LogProbs: Decodable {
            var tokens: [String]?
            var token_logprobs: [Double?]?
            var top_logprobs: [[String: Double]?]?
            var text_offset: [Int]?
        }
        var text: String
        var logprobs: LogProbs?
        var finish_reason: String?
        /// vLLM: the matched stop string, a stop token id, or null (end of sequence).
        enum StopReason { case absent, string(String), other }
        var stop_reason: StopReason

        enum CodingKeys: String, CodingKey { case text, logprobs, finish_reason, stop_reason }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            text = try c.decode(String.self, forKey: .text)
            logprobs = try c.decodeIfPresent(LogProbs.self, forKey: .logprobs)
            finish_reason = try c.decodeIfPresent(String.self, forKey: .finish_reason)
            if !c.contains(.stop_reason) {
                stop_reason = .absent
            } else if let s = try? c.decode(String.self, forKey: .stop_reason) {
                stop_reason = .string(s)
            } else {
                stop_reason = .other
            }
        }
    }
    var choices: [Choice]
}
