import Foundation
import LanguageModels
import Models
import RemoteModels
import Synchronization
import Testing
@testable import Synthesis

/// LIMRANK-SYNTHESIZER over a real loopback HTTP server that misbehaves: 500s,
/// 429s, truncated JSON, a hang-up and a stall past the client timeout, mixed
/// with good answers. Good answers come from the scripted test model behind
/// an OpenAI-shaped endpoint, so the right output is known: the same run over
/// a server that never fails.
@Suite struct SynthesisOverHTTPFaultTests {
    /// An OpenAI chat-completions answer computed by `ScriptedLanguageModel`.
    static func scriptedAnswer(_ body: String) -> String {
        struct Message: Decodable { var role: String; var content: String }
        struct Body: Decodable { var messages: [Message]; var max_tokens: Int?; var temperature: Double?; var seed: Int64?; var stop: [String]? }
        guard let request = try? JSONDecoder().decode(Body.self, from: Data(body.utf8)) else { return "{}" }
        let messages = request.messages.map { ChatMessage(ChatMessage.Role(rawValue: $0.role) ?? .user, $0.content) }
        let generation = GenerationRequest(messages: messages, maxTokens: request.max_tokens ?? 256, stop: request.stop ?? [],
                                           temperature: request.temperature ?? 0, seed: UInt64(bitPattern: request.seed ?? 0))
        // The fault server answers on its own threads; the scripted model is
        // pure, so waiting on it there is safe.
        let box = Mutex<String>("")
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let text = (try? await ScriptedLanguageModel().generate(generation)) ?? ""
            box.withLock { $0 = text }
            done.signal()
        }
        done.wait()
        let reply: [String: Any] = [
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [["index": 0, "message": ["role": "assistant", "content": box.withLock { $0 }], "finish_reason": "stop"]],
            "usage": ["prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2],
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: reply), as: UTF8.self)
    }

    static let clientTimeout = 15.0

    func run(_ script: [FaultServer.Fault], into directory: URL) async throws -> SynthesisStats {
        let server = try FaultServer(script)
        defer { server.stop() }
        // The client does not retry itself here, so every fault reaches the
        // synthesizer's own backoff and shows in its accounting. The timeout
        // is generous because a good answer is computed on the cooperative
        // pool, which on a 2-core CI machine running the heavy suites beside
        // this one took over a second (a healthy run counted 2 retries).
        let model = try OpenAICompatibleModel(OpenAICompatibleConfiguration(
            baseURL: "http://127.0.0.1:\(server.port)/v1", model: "scripted", timeoutSeconds: Self.clientTimeout, maxRetries: 0,
            maxConcurrentRequests: 1))
        var settings = SynthesisConfiguration()
        settings.target = 3
        settings.seed = 11
        settings.concurrency = 1
        settings.backendRetries = 3
        settings.backoffBaseSeconds = 0.01
        return try await SynthesisPipeline(generator: model, settings: settings).run(outputDirectory: directory)
    }

    func examples(_ directory: URL) throws -> [String] {
        try SynthesisStore.readJSONLines(SyntheticExample.self, from: directory.appendingPathComponent("examples.jsonl")).map {
            "\($0.id)|\($0.query)|\($0.positives.map(\.text))|\($0.negatives.map(\.text))"
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func faultsAreRetriedAndTheOutputIsThatOfAHealthyServer() async throws {
        let answer = FaultServer.Fault.answer(Self.scriptedAnswer)
        let healthy = FileManager.default.temporaryDirectory.appendingPathComponent("synth-http-ok-\(UUID().uuidString)")
        let faulty = FileManager.default.temporaryDirectory.appendingPathComponent("synth-http-faults-\(UUID().uuidString)")
        let clean = try await run([answer], into: healthy)
        let faults: [FaultServer.Fault] = [
            .respond(status: 500, body: #"{"error": {"message": "boom"}}"#), answer,
            .respond(status: 429, headers: ["Retry-After: 0"], body: #"{"error": {"message": "slow down"}}"#), answer, answer,
            .truncated(body: #"{"id": "x", "choices": [{"message": {"content": "#), answer,
            .hangUp, answer, answer,
            .stall(seconds: Self.clientTimeout + 5), answer,
            .respond(status: 503, body: "not json at all"), answer,
        ]
        let stats = try await run(faults, into: faulty)
        #expect(clean.usage.backendRetries == 0)
        // Six faults, each one retried once by the synthesizer.
        #expect(stats.usage.backendRetries == 6)
        #expect(stats.selected == 3 && clean.selected == 3)
        let got = try examples(faulty)
        #expect(got.count == 3 && Set(got).count == 3)
        #expect(got == (try examples(healthy)))
        // Tokens come from the server's `usage` (1 + 1 per answer here); failed attempts report none.
        #expect(stats.usage.countedRequests == stats.usage.requests - 6)
        #expect(stats.usage.completionTokens == stats.usage.countedRequests)
    }
}
