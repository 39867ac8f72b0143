import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Models
import NIOCore
import Testing
import TestSupport
@testable import Server

/// `limrank serve --parallel N`: concurrent completion requests decoded
/// together in shared forward passes (`BatchingStreamingGenerator`) answer
/// exactly what the same requests get one at a time from today's one-at-a-time
/// path: text, tokens, log-probabilities, finish reasons and usage.
@Suite struct ParallelCompletionsTests {
    /// Greedy and seeded sampling, a JSON response format, stop strings,
    /// echo with log-probabilities, a chat and a streamed request.
    static let requests: [(path: String, body: String)] = [
        ("/v1/completions", #"{"prompt": "The quick brown", "max_tokens": 24, "temperature": 0}"#),
        ("/v1/completions", #"{"prompt": "hello world, hello", "max_tokens": 20, "temperature": 0.9, "seed": 7, "logprobs": 2}"#),
        ("/v1/completions", #"{"prompt": "abc", "max_tokens": 16, "temperature": 1.2, "top_p": 0.9, "seed": 123}"#),
        ("/v1/completions", #"{"prompt": "JSON:", "max_tokens": 30, "temperature": 0, "response_format": {"type": "json_object"}}"#),
        ("/v1/completions", #"{"prompt": "stop here", "max_tokens": 24, "temperature": 1, "seed": 3, "stop": ["e", "a", "o", "."]}"#),
        ("/v1/completions", #"{"prompt": "echo me", "max_tokens": 8, "temperature": 0, "echo": true, "logprobs": 3}"#),
        ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "temperature": 0.8, "seed": 11, "logprobs": true, "top_logprobs": 2}"#),
        ("/v1/completions", #"{"prompt": "streaming", "max_tokens": 18, "temperature": 0, "stream": true, "logprobs": 1, "stream_options": {"include_usage": true}}"#),
    ]

    /// A response without what differs between two identical requests (ids, timestamps).
    static func normalised(_ text: String, streamed: Bool) -> String {
        func clean(_ payload: String) -> String {
            guard var object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { return payload }
            object["id"] = nil
            object["created"] = nil
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return data.map { String(decoding: $0, as: UTF8.self) } ?? payload
        }
        return streamed ? serverSentEvents(text).map(clean).joined(separator: "\n") : clean(text)
    }

    static func post(_ port: Int, _ request: (path: String, body: String)) async throws -> String {
        var http = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(request.path)")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.body = .bytes(ByteBuffer(string: request.body))
        let response = try await HTTPClient.shared.execute(http, timeout: .seconds(300))
        let text = String(buffer: try await response.body.collect(upTo: 8 << 20))
        #expect(response.status.code == 200, "\(request.body): \(text)")
        return normalised(text, streamed: request.body.contains(#""stream": true"#))
    }

    /// Answers from a live server given `configuration` and `generator`, all
    /// requests at once or one after another.
    static func answers(_ generator: any StreamingTextGenerator, parallel: Int, maxTokens: Int,
                        concurrently: Bool) async throws -> [String] {
        var configuration = ServerConfiguration(port: 0, maxGenerationTokens: maxTokens)
        configuration.parallelGenerations = parallel
        let app = try buildApplication(configuration: configuration, backends: ServerBackends(generator: generator))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            guard concurrently else {
                var out: [String] = []
                for request in requests { out.append(try await post(port, request)) }
                return out
            }
            return try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (i, request) in requests.enumerated() { group.addTask { (i, try await post(port, request)) } }
                var out = [String](repeating: "", count: requests.count)
                for try await (i, text) in group { out[i] = text }
                return out
            }
        }
    }

    static func checkConcurrentMatchesOneAtATime(_ native: NativeStreamingGenerator, maxTokens: Int) async throws -> Int {
        let alone = try await answers(native, parallel: 1, maxTokens: maxTokens, concurrently: false)
        let batching = BatchingStreamingGenerator(native, parallel: 8)
        let together = try await answers(batching, parallel: 8, maxTokens: maxTokens, concurrently: true)
        for (i, (a, b)) in zip(alone, together).enumerated() {
            #expect(a == b, "request \(i) \(requests[i].body)")
        }
        // The same requests once more, one at a time through the batching path.
        let sequential = try await answers(batching, parallel: 8, maxTokens: maxTokens, concurrently: false)
        #expect(sequential == alone)
        return batching.largestStep
    }

    @Test func tinyModelConcurrentCompletionsEqualOneAtATime() async throws {
        _ = try await Self.checkConcurrentMatchesOneAtATime(try ResponseFormatTests.tinyNativeGenerator(), maxTokens: 64)
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func smolLM2ConcurrentCompletionsEqualOneAtATime() async throws {
        let generator = NativeStreamingGenerator(try TextGenerator(gguf: Assets.smollm2GGUF))
        let largest = try await Self.checkConcurrentMatchesOneAtATime(generator, maxTokens: 64)
        #expect(largest > 1, "no two requests shared a decode step")
    }

    /// Generator level: requests that join while others decode, leave at
    /// different lengths, or are cancelled part-way stream exactly the
    /// native generator's events.
    @Test func streamsEqualTheNativeGeneratorsWithJoinsLeavesAndCancellation() async throws {
        let native = try ResponseFormatTests.tinyNativeGenerator()
        let batching = BatchingStreamingGenerator(native, parallel: 3)
        let requests = (0..<7).map { i in
            TextGenerationRequest(prompt: .raw(String(repeating: "ab", count: i + 1)), maxTokens: 5 + 7 * i % 23,
                                  temperature: i % 2 == 0 ? 0 : 1, seed: UInt64(i), topLogProbabilities: i % 3)
        }
        func events(_ g: any StreamingTextGenerator, _ r: TextGenerationRequest) async throws -> [GenerationEvent] {
            var out: [GenerationEvent] = []
            for try await e in g.stream(r) { out.append(e) }
            return out
        }
        let expected = try await withThrowingTaskGroup(of: (Int, [GenerationEvent]).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await events(native, r)) } }
            var out = [[GenerationEvent]](repeating: [], count: requests.count)
            for try await (i, e) in group { out[i] = e }
            return out
        }
        let got = try await withThrowingTaskGroup(of: (Int, [GenerationEvent]).self) { group in
            for (i, r) in requests.enumerated() {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(3 * i))  // staggered arrivals
                    return (i, try await events(batching, r))
                }
            }
            // One more that stops reading after two tokens (its slot is freed).
            group.addTask {
                var seen = 0
                for try await e in batching.stream(TextGenerationRequest(prompt: .raw("zz"), maxTokens: 60)) {
                    if case .token = e { seen += 1 }
                    if seen == 2 { break }
                }
                return (-1, [])
            }
            var out = [[GenerationEvent]](repeating: [], count: requests.count)
            for try await (i, e) in group where i >= 0 { out[i] = e }
            return out
        }
        for i in requests.indices { #expect(got[i] == expected[i], "request \(i)") }
        #expect(batching.largestStep <= 3)
        // Nothing is left running or waiting.
        #expect(batching.waitingCount == 0)
    }

    @Test func parallelMustBePositive() throws {
        var configuration = ServerConfiguration(port: 0)
        configuration.parallelGenerations = 0
        #expect(throws: ServerError.self) { try configuration.validate() }
    }
}
