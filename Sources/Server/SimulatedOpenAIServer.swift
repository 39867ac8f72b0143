import Foundation
import Hummingbird
import LanguageModels
import NIOCore
import Synchronization

/// An OpenAI-compatible server with no model behind it: it answers after a
/// fixed delay, with at most `slots` requests being answered at once (the
/// rest queue, as at a GPU server with that many batch slots), and its
/// answers are pure functions of the request, so a client's results can be
/// checked exactly and compared across runs. For the tests and `limrank
/// bench remote` of concurrent reranking; it binds to loopback only.
///
/// - /v1/completions: with `max_tokens` 1 and `logprobs` it answers " true"
///   or " false" with P(" true" | prompt) = `probability(of: prompt)`; for
///   one prompt in four only the chosen answer is among the alternatives, so
///   the client must ask again with `echo` for the other (whose echoed
///   log-probability is the same function). Longer generations write a few
///   words, then `"\n</think> true|false"`, cut at a `stop` string the way
///   vLLM reports it (`finish_reason` "stop", `stop_reason` the string).
/// - /v1/chat/completions: one scored token ("true"/"false", or " A"/" B"
///   after an assistant prefix ending in "Passage", as PRP asks), or for a
///   listing of "[1] .. [n]" passages a permutation "[3] > [1] > ...", of
///   which one listing in five leaves out its last passage (so a listwise
///   reranker has warnings to report).
/// - Faults: a `failureRate` share of requests fails on its first
///   `failuresPerRequest` attempts with 429 (Retry-After: 0), 503 or a
///   connection dropped after the headers, chosen by the request's bytes and
///   attempt number; a request containing `alwaysFailMarker` always gets 503.
public struct SimulatedServerConfiguration: Sendable {
    public var port: Int
    public var delaySeconds: Double
    public var slots: Int
    public var failureRate: Double
    public var failuresPerRequest: Int
    public var alwaysFailMarker: String?

    public init(port: Int = 0, delaySeconds: Double = 0.2, slots: Int = 64, failureRate: Double = 0,
                failuresPerRequest: Int = 2, alwaysFailMarker: String? = nil) {
        self.port = port
        self.delaySeconds = delaySeconds
        self.slots = slots
        self.failureRate = failureRate
        self.failuresPerRequest = failuresPerRequest
        self.alwaysFailMarker = alwaysFailMarker
    }

    func validate() throws {
        if !(delaySeconds >= 0) { throw ServerError.configuration(field: "delay", reason: "must be >= 0, got \(delaySeconds)") }
        if slots < 1 { throw ServerError.configuration(field: "slots", reason: "must be at least 1, got \(slots)") }
        if !(0...1).contains(failureRate) { throw ServerError.configuration(field: "failureRate", reason: "must be in 0...1, got \(failureRate)") }
        if failuresPerRequest < 0 { throw ServerError.configuration(field: "failuresPerRequest", reason: "must be >= 0") }
    }
}

/// What the simulated server saw, for tests and the benchmark.
public final class SimulatedServerStatistics: Sendable {
    struct State {
        var requests = 0
        var answered = 0
        var failed = 0
        var inFlight = 0
        var maxInFlight = 0
        var attempts: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// Every request received, failed ones included.
    public var requests: Int { state.withLock { $0.requests } }
    /// Requests answered with 200 and a whole body.
    public var answered: Int { state.withLock { $0.answered } }
    /// Requests answered with 429/503 or dropped.
    public var failed: Int { state.withLock { $0.failed } }
    /// Most requests being answered (past the slot queue) at once.
    public var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    /// Counts the request and returns its attempt number (1 for the first time these bytes arrive).
    func arrived(_ key: String) -> Int {
        state.withLock {
            $0.requests += 1
            $0.attempts[key, default: 0] += 1
            return $0.attempts[key]!
        }
    }
    func started() { state.withLock { $0.inFlight += 1; $0.maxInFlight = max($0.maxInFlight, $0.inFlight) } }
    func finished(ok: Bool) {
        state.withLock {
            $0.inFlight -= 1
            if ok { $0.answered += 1 } else { $0.failed += 1 }
        }
    }
}

public enum SimulatedOpenAIServer {
    /// P(" true") (or "true", or " A") the server gives after `text`: a
    /// stable hash mapped into [0.02, 0.98].
    public static func probability(of text: String) -> Double {
        0.02 + 0.96 * Double(hash(text) >> 11) / Double(1 << 53)
    }

    /// The server's tokenizer: a run of whitespace joined to the word after it.
    public static func tokens(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var inWord = false
        for character in text {
            if character.isWhitespace {
                if inWord { pieces.append(current); current = ""; inWord = false }
            } else {
                inWord = true
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// The permutation (0-based) the server writes for a listing of `count`
    /// passages in `text`, and whether it leaves the last one out.
    public static func permutation(count: Int, of text: String) -> (order: [Int], dropsLast: Bool) {
        var state = hash(text)
        func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(next() % UInt64(i + 1))) }
        }
        let drops = count > 2 && hash(text + "#drop") % 5 == 0
        return (drops ? Array(order.dropLast()) : order, drops)
    }

    static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    static func unit(_ text: String) -> Double { Double(hash(text) >> 11) / Double(1 << 53) }

    /// The application, bound to 127.0.0.1:`configuration.port`.
    public static func build(
        _ configuration: SimulatedServerConfiguration, statistics: SimulatedServerStatistics = SimulatedServerStatistics(),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try configuration.validate()
        let router = Router(context: BasicRequestContext.self)
        let slots = AsyncSemaphore(permits: configuration.slots)
        let handler = Handler(configuration: configuration, statistics: statistics, slots: slots)
        router.post("/v1/completions") { request, _ in try await handler.respond(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in try await handler.respond(request, chat: true) }
        router.get("/v1/models") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: #"{"object":"list","data":[{"id":"simulated","object":"model"}]}"#)))
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname("127.0.0.1", port: configuration.port), serverName: "limrank-simulated"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) })
    }

    struct Dropped: Error {}

    struct Handler: Sendable {
        let configuration: SimulatedServerConfiguration
        let statistics: SimulatedServerStatistics
        let slots: AsyncSemaphore

        func respond(_ request: Request, chat: Bool) async throws -> Response {
            let buffer = try await request.body.collect(upTo: 16 << 20)
            let bytes = String(buffer: buffer)
            let attempt = statistics.arrived(bytes)
            return try await slots.withPermit {
                statistics.started()
                try? await Task.sleep(for: .milliseconds(Int64(configuration.delaySeconds * 1000)))
                if let marker = configuration.alwaysFailMarker, bytes.contains(marker) {
                    statistics.finished(ok: false)
                    return Self.json(#"{"error":{"message":"simulated outage","type":"server_error"}}"#, status: .serviceUnavailable)
                }
                if attempt <= configuration.failuresPerRequest,
                   SimulatedOpenAIServer.unit(bytes + "#attempt\(attempt)") < configuration.failureRate {
                    statistics.finished(ok: false)
                    switch SimulatedOpenAIServer.hash(bytes + "#kind\(attempt)") % 3 {
                    case 0:
                        var response = Self.json(#"{"error":{"message":"simulated rate limit","type":"rate_limit_error"}}"#, status: .tooManyRequests)
                        response.headers[.retryAfter] = "0"
                        return response
                    case 1:
                        return Self.json(#"{"error":{"message":"simulated overload","type":"server_error"}}"#, status: .serviceUnavailable)
                    default:
                        // Headers out, then the connection closes mid-body.
                        return Response(status: .ok, headers: [.contentType: "application/json"],
                                        body: ResponseBody { writer in
                                            try await writer.write(ByteBuffer(string: #"{"choices":[{"te"#))
                                            throw Dropped()
                                        })
                    }
                }
                let object = try JSONSerialization.jsonObject(with: Data(bytes.utf8)) as? [String: Any] ?? [:]
                let answer = chat ? Self.chat(object) : Self.completion(object)
                let data = try JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys])
                statistics.finished(ok: true)
                return Self.json(String(decoding: data, as: UTF8.self), status: .ok)
            }
        }

        static func json(_ text: String, status: HTTPResponse.Status) -> Response {
            Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        static func usage(prompt: Int, completion: Int) -> [String: Any] {
            ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
        }

        static func completion(_ body: [String: Any]) -> [String: Any] {
            let prompt = body["prompt"] as? String ?? ""
            let maxTokens = body["max_tokens"] as? Int ?? 16
            let logprobs = body["logprobs"] as? Int
            let echo = body["echo"] as? Bool ?? false
            let stops = body["stop"] as? [String] ?? (body["stop"] as? String).map { [$0] } ?? []
            let promptTokens = SimulatedOpenAIServer.tokens(prompt)
            let p = SimulatedOpenAIServer.probability(of: prompt)
            let answer = p >= 0.5 ? " true" : " false"
            let answerLogProbability = log(p >= 0.5 ? p : 1 - p)
            var choice: [String: Any] = ["index": 0]
            if echo {
                // Each echoed token's log-probability given the text before it.
                var tokens: [String] = []
                var values: [Any] = []
                var offsets: [Int] = []
                var before = ""
                for token in promptTokens + [answer] {
                    tokens.append(token)
                    offsets.append(before.unicodeScalars.count)
                    if before.isEmpty {
                        values.append(NSNull())
                    } else {
                        let q = SimulatedOpenAIServer.probability(of: before)
                        values.append(token == " true" ? log(q) : token == " false" ? log(1 - q) : log(0.5))
                    }
                    before += token
                }
                choice["text"] = prompt + answer
                choice["logprobs"] = ["tokens": tokens, "token_logprobs": values, "text_offset": offsets,
                                      "top_logprobs": tokens.map { _ in NSNull() }]
                choice["finish_reason"] = "length"
                return ["object": "text_completion", "model": body["model"] ?? "simulated", "choices": [choice],
                        "usage": usage(prompt: promptTokens.count, completion: 1)]
            }
            if maxTokens == 1 {
                choice["text"] = answer
                choice["finish_reason"] = "length"
                if let logprobs, logprobs > 0 {
                    var top = [answer: answerLogProbability]
                    if logprobs > 1, SimulatedOpenAIServer.hash(prompt + "#narrow") % 4 != 0 {
                        top[" true"] = log(p)
                        top[" false"] = log(1 - p)
                    }
                    choice["logprobs"] = ["tokens": [answer], "token_logprobs": [answerLogProbability], "top_logprobs": [top],
                                          "text_offset": [prompt.unicodeScalars.count]]
                }
                return ["object": "text_completion", "model": body["model"] ?? "simulated", "choices": [choice],
                        "usage": usage(prompt: promptTokens.count, completion: 1)]
            }
            // A short "reasoning", then the closing tag and the answer.
            let words = 3 + Int(SimulatedOpenAIServer.hash(prompt + "#length") % 10)
            let full = (0..<words).map { " w\($0)" }.joined() + "\n</think>" + answer
            let generated = SimulatedOpenAIServer.tokens(full)
            var text = generated.prefix(maxTokens).joined()
            var finish = generated.count > maxTokens ? "length" : "stop"
            var stopReason: Any = NSNull()
            if let match = stops.compactMap({ stop in text.range(of: stop).map { (stop, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
                text = String(text[..<match.1.lowerBound])
                finish = "stop"
                stopReason = match.0
            }
            choice["text"] = text
            choice["finish_reason"] = finish
            choice["stop_reason"] = stopReason
            return ["object": "text_completion", "model": body["model"] ?? "simulated", "choices": [choice],
                    "usage": usage(prompt: promptTokens.count, completion: SimulatedOpenAIServer.tokens(text).count)]
        }

        static func chat(_ body: [String: Any]) -> [String: Any] {
            let messages = body["messages"] as? [[String: Any]] ?? []
            let rendered = messages.map { "\($0["role"] as? String ?? ""): \($0["content"] as? String ?? "")" }.joined(separator: "\n")
            let promptTokens = SimulatedOpenAIServer.tokens(rendered).count
            let p = SimulatedOpenAIServer.probability(of: rendered)
            var choice: [String: Any] = ["index": 0]
            if body["logprobs"] as? Bool == true {
                let prefix = (messages.last?["role"] as? String) == "assistant" ? (messages.last?["content"] as? String ?? "") : ""
                let pair = prefix.hasSuffix("Passage") ? (" A", " B") : ("true", "false")
                let chosen = p >= 0.5 ? pair.0 : pair.1
                let entry: [String: Any] = [
                    "token": chosen, "logprob": log(p >= 0.5 ? p : 1 - p),
                    "top_logprobs": [["token": pair.0, "logprob": log(p)], ["token": pair.1, "logprob": log(1 - p)]],
                ]
                choice["message"] = ["role": "assistant", "content": chosen]
                choice["logprobs"] = ["content": [entry]]
                choice["finish_reason"] = "length"
                return ["object": "chat.completion", "model": body["model"] ?? "simulated", "choices": [choice],
                        "usage": usage(prompt: promptTokens, completion: 1)]
            }
            let user = messages.last { ($0["role"] as? String) == "user" }?["content"] as? String ?? ""
            var count = 0
            while user.contains("[\(count + 1)]") { count += 1 }
            let content: String
            if count > 0 {
                content = SimulatedOpenAIServer.permutation(count: count, of: rendered).order.map { "[\($0 + 1)]" }.joined(separator: " > ")
            } else {
                content = p >= 0.5 ? "true" : "false"
            }
            choice["message"] = ["role": "assistant", "content": content]
            choice["finish_reason"] = "stop"
            return ["object": "chat.completion", "model": body["model"] ?? "simulated", "choices": [choice],
                    "usage": usage(prompt: promptTokens, completion: SimulatedOpenAIServer.tokens(content).count)]
        }
    }
}
