import ArgumentParser
import Datasets
import Foundation
import Hummingbird
import RemoteModels
import Reranking
import Server

/// `limrank bench remote --simulate`: pointwise reranking throughput against
/// the latency-simulating OpenAI server, per request concurrency N, beside
/// the ideal min(N, slots) / delay a client that keeps N requests in flight
/// reaches.
struct BenchRemoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Passages/s of pointwise reranking over HTTP at each --concurrency, against a simulated server.",
        discussion: """
            Starts SimulatedOpenAIServer on 127.0.0.1 (each request answered after --delay-ms, \
            at most --slots at once, the rest queued), reranks synthetic queries of 20 passages \
            with the pointwise reranker (chat layout, one scoring request per passage) at each N \
            of --levels, and prints a Markdown table: N, passages, seconds, passages/s, the ideal \
            min(N, slots) / delay, and their ratio.

            Example (the BENCHMARKS.md table):
              limrank bench remote --simulate --delay-ms 200 --slots 64 --levels 1,2,4,8,16,32,64,128
            """,
        shouldDisplay: false)

    @Flag(help: "Run against the built-in simulated server (the only mode).")
    var simulate = false

    @Option(help: "Milliseconds the server takes per request.")
    var delayMs = 200

    @Option(help: "Requests the server answers at once (its batch slots).")
    var slots = 64

    @Option(help: "Comma-separated request concurrencies to measure.")
    var levels = "1,2,4,8,16,32,64,128"

    @Option(help: "Seconds of ideal work per level (passages = max(40, ideal rate x this)).")
    var seconds = 4.0

    var parsedLevels: [Int] { levels.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard simulate else { throw ValidationError("give --simulate (the simulated server is the only mode)") }
        guard delayMs > 0 else { throw ValidationError("--delay-ms must be positive") }
        guard slots >= 1 else { throw ValidationError("--slots must be at least 1") }
        let parsed = parsedLevels
        guard !parsed.isEmpty, parsed.count == levels.split(separator: ",").count, parsed.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--levels must be comma-separated integers >= 1, got '\(levels)'")
        }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
    }

    func run() async throws {
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = try SimulatedOpenAIServer.build(
            SimulatedServerConfiguration(delaySeconds: Double(delayMs) / 1000, slots: slots)) { portSink.yield($0) }
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the simulated server did not start") }
        Log.write("simulated server on 127.0.0.1:\(port): \(delayMs) ms per request, \(slots) slots")

        print("| N | passages | seconds | passages/s | ideal min(N, \(slots))/\(String(format: "%g", Double(delayMs) / 1000)) s | ratio |")
        print("|---:|---:|---:|---:|---:|---:|")
        for n in parsedLevels {
            let ideal = Double(min(n, slots)) / (Double(delayMs) / 1000)
            let passages = max(40, Int((ideal * seconds).rounded(.up) / 20) * 20)
            let model = try OpenAICompatibleModel(
                OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(port)/v1", model: "simulated", maxConcurrentRequests: n))
            var reranker = PointwiseLLMReranker(model: model, format: .chatml, maxPassageTokens: nil, reasoningTokens: 0)
            reranker.concurrency = n
            var driver = RunReranker(reranker: reranker, depth: 20)
            driver.concurrency = n
            // Distinct texts per level, so nothing can be answered from a cache.
            var run = Run()
            var documents: [String: Document] = [:]
            var queries: [Query] = []
            for q in 0..<(passages / 20) {
                let query = Query(id: "q\(q)", text: "level \(n) query \(q) on supersonic flow")
                queries.append(query)
                run[query.id] = (0..<20).map { d in
                    let id = "q\(q)d\(d)"
                    documents[id] = Document(id: id, text: "passage \(d) of query \(q) at level \(n)")
                    return ScoredDocument(id: id, score: Double(20 - d))
                }
            }
            let start = ContinuousClock.now
            _ = try await driver.rerank(run: run, queries: queries, documents: documents)
            let elapsed = ContinuousClock.now - start
            let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(passages) / elapsedSeconds
            print("| \(n) | \(passages) | \(String(format: "%.2f", elapsedSeconds)) | \(String(format: "%.1f", rate)) | \(String(format: "%.1f", ideal)) | \(String(format: "%.2f", rate / ideal)) |")
        }
    }
}
