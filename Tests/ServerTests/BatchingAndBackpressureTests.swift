import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Synchronization
import Testing
@testable import Server

/// An encoder that records its batches and can be held until released.
final class RecordingEmbedder: TextEmbedder, TokenCounter, Sendable {
    let identifier = "recording"
    let dimension = 64
    let maxTokens = 512
    private let inner = WordHashEmbedder()
    private let state = Mutex<(batches: [Int], held: Bool, waiters: [CheckedContinuation<Void, Never>])>(([], false, []))

    init(held: Bool = false) { state.withLock { $0.held = held } }

    var batches: [Int] { state.withLock { $0.batches } }

    func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.held = false
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        await withCheckedContinuation { continuation in
            let wait = state.withLock { state -> Bool in
                state.batches.append(texts.count)
                if state.held { state.waiters.append(continuation) }
                return state.held
            }
            if !wait { continuation.resume() }
        }
        return try await inner.embed(texts)
    }

    func countTokens(_ text: String) async throws -> Int { try await inner.countTokens(text) }
}

@Suite struct BatchingAndBackpressureTests {
    @Test func concurrentRequestsShareBatchesAndKeepTheirOwnVectors() async throws {
        let encoder = RecordingEmbedder()
        let batcher = EmbeddingBatcher(encoder: encoder, maxBatch: 16, maxQueued: 256, maxWait: .milliseconds(50))
        let texts = (0..<24).map { "text number \($0) about wings" }
        let expected = try await WordHashEmbedder().embed(texts)
        let results = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            for index in texts.indices {
                group.addTask { (index, try await batcher.embed([texts[index]])) }
            }
            var all = [[Float]](repeating: [], count: texts.count)
            for try await (index, vectors) in group { all[index] = vectors[0] }
            return all
        }
        #expect(results == expected)
        #expect(encoder.batches.reduce(0, +) == texts.count)
        #expect(encoder.batches.allSatisfy { $0 <= 16 })
        #expect(encoder.batches.count < texts.count, "no two requests were batched: \(encoder.batches)")
    }

    @Test func aJobLargerThanABatchIsSplit() async throws {
        let encoder = RecordingEmbedder()
        let batcher = EmbeddingBatcher(encoder: encoder, maxBatch: 4, maxQueued: 64, maxWait: .zero)
        let texts = (0..<10).map { "t\($0)" }
        #expect(try await batcher.embed(texts) == WordHashEmbedder().embed(texts))
        #expect(encoder.batches == [4, 4, 2])
    }

    @Test func aFullQueueRefusesAndRecovers() async throws {
        let encoder = RecordingEmbedder(held: true)
        let batcher = EmbeddingBatcher(encoder: encoder, maxBatch: 2, maxQueued: 4, maxWait: .zero, retryAfterSeconds: 3)
        let first = Task { try await batcher.embed(["a", "b"]) }
        while encoder.batches.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        // The first batch is inside the encoder; four more texts fill the queue.
        let second = Task { try await batcher.embed(["c", "d"]) }
        let third = Task { try await batcher.embed(["e", "f"]) }
        while await batcher.pendingTexts < 4 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: ServerError.overloaded(retryAfterSeconds: 3)) { _ = try await batcher.embed(["g"]) }
        encoder.release()
        #expect(try await first.value.count == 2)
        #expect(try await second.value.count == 2)
        #expect(try await third.value.count == 2)
        #expect(try await batcher.embed(["g"]).count == 1)
    }

    @Test func overloadIs429WithRetryAfterOverHTTP() async throws {
        let configuration = ServerConfiguration(port: 0, maxBatchTexts: 1, maxQueuedTexts: 1, retryAfterSeconds: 2)
        try await makeApp(configuration).test(.router) { client in
            let reply = try await client.send(.post, "/v1/rerank", json: #"{"query":"a","documents":["a","b"]}"#)
            #expect(reply.status == 429)
            #expect(reply.headers[.retryAfter] == "2")
            #expect((reply.object["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        }
    }

    @Test func admissionGateQueuesThenRefuses() async throws {
        let gate = AdmissionGate(maxRunning: 1, maxWaiting: 1, retryAfterSeconds: 1)
        try await gate.enter()
        let waiter = Task { try await gate.enter() }
        while await gate.waitingCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: ServerError.overloaded(retryAfterSeconds: 1)) { try await gate.enter() }
        await gate.leave()
        try await waiter.value
        await gate.leave()
        try await gate.enter()
        await gate.leave()
    }

    @Test func stopFilterNeverLeaksAStopPrefix() {
        var filter = StopSequenceFilter(stop: ["</s>", "END"])
        var out = ""
        for piece in ["Hel", "lo <", "/", "x", " E", "N", "D tail"] {
            let step = filter.feed(piece)
            out += step.emit
            if step.stopped { break }
        }
        #expect(out == "Hello </x ")
        var open = StopSequenceFilter(stop: ["###"])
        #expect(open.feed("a#").emit == "a")
        #expect(open.feed("#b").emit == "##b")
        #expect(open.flush() == "")
    }

    @Test func candidateMatchingRule() {
        let alternatives = [TokenLogProbability(token: "Ġtrue", logProbability: log(0.3)),
                            TokenLogProbability(token: "True", logProbability: log(0.2)),
                            TokenLogProbability(token: " false", logProbability: log(0.1)),
                            TokenLogProbability(token: " ", logProbability: log(0.05))]
        let scores = CandidateTokenMatching.logProbabilities(of: ["true", " FALSE", "maybe", ""], in: alternatives)
        #expect(abs(scores[0]! - log(0.5)) < 1e-12)
        #expect(abs(scores[1]! - log(0.1)) < 1e-12)
        #expect(scores[2] == nil)
        #expect(scores[3] == nil)
    }
}
