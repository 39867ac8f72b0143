import Datasets
import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Models
import RemoteModels
import Reranking
import Synchronization
import Testing
@testable import Server

/// Reranking against the latency-simulating server (`SimulatedOpenAIServer`)
/// with many requests in flight gives exactly what one request at a time
/// gives: the same run, the same warnings in the same order, the same cache
/// entries (compared as a set: lines are appended as judgements finish), and
/// under 429s, 503s and dropped connections every passage is judged and
/// cached exactly once.
@Suite struct ConcurrentRemoteRerankingTests {
    static let queries = (0..<6).map { Query(id: "q\($0)", text: "query number \($0) about wing flutter \($0 * 7)") }
    static let documents = (0..<12).map { Document(id: "d\($0)", title: "title \($0)", text: "passage \($0) on boundary layers \($0 * 13)") }
    static var byID: [String: Document] { Dictionary(uniqueKeysWithValues: documents.map { ($0.id, $0) }) }
    /// Each query's candidates in a different first-stage order.
    static var firstStage: Run {
        var run = Run()
        for (q, query) in queries.enumerated() {
            let order = documents.indices.map { (($0 * 5) + q) % documents.count }
            run[query.id] = order.enumerated().map { ScoredDocument(id: documents[$0.element].id, score: Double(100 - $0.offset)) }
        }
        return run
    }

    struct Outcome: Equatable, Sendable {
        var run: Run
        var warnings: [String]
        var cacheLines: [String]
    }

    static func remote(_ port: Int, concurrency: Int, retries: Int = 4) throws -> OpenAICompatibleModel {
        try OpenAICompatibleModel(OpenAICompatibleConfiguration(
            baseURL: "http://127.0.0.1:\(port)/v1", model: "simulated", maxRetries: retries,
            initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.05, maxConcurrentRequests: concurrency))
    }

    /// Reranks the first stage through a fresh cache file; the cache's lines come back sorted.
    static func rerank(_ make: (OpenAICompatibleModel) throws -> any Reranker, port: Int, concurrency: Int,
                       cache: URL? = nil, retries: Int = 4) async throws -> Outcome {
        let file = cache ?? FileManager.default.temporaryDirectory.appendingPathComponent("limrank-conc-\(UUID().uuidString).jsonl")
        let store = try RankingCache(url: file)
        let reranker = CachedReranker(base: try make(try remote(port, concurrency: concurrency, retries: retries)),
                                      fingerprint: "simulated@v1", store: store)
        var driver = RunReranker(reranker: reranker, depth: 10)
        driver.concurrency = concurrency
        let warnings = Mutex<[String]>([])
        driver.onWarnings = { id, list in warnings.withLock { $0.append(id + ": " + list.joined(separator: "; ")) } }
        let run = try await driver.rerank(run: firstStage, queries: queries, documents: byID)
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        return Outcome(run: run, warnings: warnings.withLock { $0 }, cacheLines: lines)
    }

    static func withServer<T: Sendable>(_ configuration: SimulatedServerConfiguration, statistics: SimulatedServerStatistics = SimulatedServerStatistics(),
                                        _ body: @Sendable @escaping (Int) async throws -> T) async throws -> T {
        let app = try SimulatedOpenAIServer.build(configuration, statistics: statistics)
        return try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    static func pointwise(reasoning: Int) -> @Sendable (OpenAICompatibleModel) throws -> any Reranker {
        { model in
            var r = PointwiseLLMReranker(model: model, format: .limrank, maxPassageTokens: nil, reasoningTokens: reasoning)
            r.concurrency = model.configuration.maxConcurrentRequests
            return r
        }
    }

    @Test(arguments: [0, 8])
    func pointwiseIsTheSameForOneOrEightInFlight(reasoning: Int) async throws {
        let statistics = SimulatedServerStatistics()
        let (one, eight) = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0.005, slots: 64), statistics: statistics) { port in
            (try await Self.rerank(Self.pointwise(reasoning: reasoning), port: port, concurrency: 1),
             try await Self.rerank(Self.pointwise(reasoning: reasoning), port: port, concurrency: 8))
        }
        #expect(one == eight)
        #expect(one.cacheLines.count == Self.queries.count * 10)
        #expect(Set(one.cacheLines).count == one.cacheLines.count)
        #expect(statistics.maxInFlight > 1 && statistics.maxInFlight <= 8)
        // The scores are the server's: P(" true") after the forced "</think>" (no reasoning).
        if reasoning == 0 {
            let query = Self.queries[0], document = Self.byID[Self.firstStage[query.id][0].id]!
            let prompt = PointwisePrompt.rawPrompt(query: query.text, passage: PointwisePrompt.passage(title: document.title, text: document.text))
                + PointwisePrompt.forcedAnswerPrefix(reasoning: "")
            let expected = SimulatedOpenAIServer.probability(of: prompt)
            let got = try #require(one.run[query.id].first { $0.id == document.id })
            // The merged run may nudge tied scores down by ulps; the pair probability is exp/log of p.
            #expect(abs(got.score - expected) < 1e-9)
        }
    }

    @Test(arguments: [PairwiseReranker.Variant.allPairs, .slidingWindow(topK: 3)])
    func prpIsTheSameForOneOrEightInFlight(variant: PairwiseReranker.Variant) async throws {
        let make: @Sendable (OpenAICompatibleModel) throws -> any Reranker = { model in
            var r = PairwiseReranker(model: model, variant: variant)
            r.concurrency = model.configuration.maxConcurrentRequests
            return r
        }
        let (one, eight) = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0.002, slots: 64)) { port in
            (try await Self.rerank(make, port: port, concurrency: 1), try await Self.rerank(make, port: port, concurrency: 8))
        }
        #expect(one == eight)
        #expect(one.cacheLines.count == Self.queries.count)
        // The server's preferences are not the first stage's order.
        #expect(Self.queries.contains { one.run[$0.id].prefix(10).map(\.id) != Self.firstStage[$0.id].prefix(10).map(\.id) })
    }

    @Test func listwiseIsTheSameForOneOrEightInFlight() async throws {
        let make: @Sendable (OpenAICompatibleModel) throws -> any Reranker = { model in
            try ListwiseReranker(model: model, windowSize: 4, step: 2)
        }
        let (one, eight) = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0.002, slots: 64)) { port in
            (try await Self.rerank(make, port: port, concurrency: 1), try await Self.rerank(make, port: port, concurrency: 8))
        }
        #expect(one == eight)
        // The simulator leaves a passage out of one listing in five: warnings to compare.
        #expect(!one.warnings.isEmpty)
        #expect(one.cacheLines.count == Self.queries.count)
    }

    /// 429 (Retry-After: 0), 503 and connections dropped after the headers,
    /// on a third of first and second attempts: every passage still ends
    /// judged once, with the scores a healthy server gives.
    @Test func flakyServerLosesAndDuplicatesNothing() async throws {
        let statistics = SimulatedServerStatistics()
        let flaky = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0.002, slots: 16, failureRate: 0.35, failuresPerRequest: 2),
                                              statistics: statistics) { port in
            try await Self.rerank(Self.pointwise(reasoning: 0), port: port, concurrency: 8)
        }
        let healthy = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0, slots: 64)) { port in
            try await Self.rerank(Self.pointwise(reasoning: 0), port: port, concurrency: 1)
        }
        #expect(statistics.failed > 0)
        #expect(flaky == healthy)
        let keys = flaky.cacheLines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["key"] as? String
        }
        #expect(keys.count == Self.queries.count * 10 && Set(keys).count == keys.count)
    }

    /// A query whose requests fail after retries is named; the others finish
    /// and are cached; the same run again asks only for that query's passages.
    @Test func failedQueryIsReportedAndOnlyItIsRedone() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-conc-\(UUID().uuidString).jsonl")
        let broken = Self.queries[3].text
        do {
            _ = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0, slots: 64, alwaysFailMarker: broken)) { port in
                try await Self.rerank(Self.pointwise(reasoning: 0), port: port, concurrency: 4, cache: file, retries: 1)
            }
            Issue.record("query q3 cannot be scored")
        } catch let RerankingError.queriesFailed(ids, total, _) {
            #expect(ids == ["q3"] && total == Self.queries.count)
        }
        let kept = await (try RankingCache(url: file)).passageCount
        #expect(kept == (Self.queries.count - 1) * 10)
        // What q3 alone costs a fresh server, against what the resumed run asks.
        let alone = SimulatedServerStatistics()
        _ = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0, slots: 64), statistics: alone) { port in
            var r = PointwiseLLMReranker(model: try Self.remote(port, concurrency: 4), format: .limrank, maxPassageTokens: nil, reasoningTokens: 0)
            r.concurrency = 4
            let head = Self.firstStage["q3"].prefix(10).map { Self.byID[$0.id]! }
            return try await r.rerank(query: Self.queries[3], candidates: head).results.count
        }
        let resumed = SimulatedServerStatistics()
        let outcome = try await Self.withServer(SimulatedServerConfiguration(delaySeconds: 0, slots: 64), statistics: resumed) { port in
            try await Self.rerank(Self.pointwise(reasoning: 0), port: port, concurrency: 4, cache: file)
        }
        #expect(resumed.requests == alone.requests && alone.requests >= 10)
        #expect(outcome.cacheLines.count == Self.queries.count * 10)
    }

    @Test func concurrencyBelowOneIsAnError() async throws {
        for n in [0, -3] {
            var driver = RunReranker(reranker: PointwiseLLMReranker(model: try Self.remote(1, concurrency: 1)), depth: 10)
            driver.concurrency = n
            await #expect(throws: RerankingError.invalidParameter(name: "concurrency", reason: "must be at least 1, got \(n)")) {
                _ = try await driver.rerank(run: Self.firstStage, queries: Self.queries, documents: Self.byID)
            }
        }
    }
}
