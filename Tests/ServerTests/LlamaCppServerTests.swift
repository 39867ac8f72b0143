#if canImport(Glibc)
import Glibc
#endif
import Datasets
import Foundation
import LanguageModels
import Models
import RemoteModels
import Reranking
import Synthesis
import Testing
import TestSupport

/// A real llama.cpp server (llama-cpp-python's, started by
/// `Scripts/llamacpp_server.sh`) as LimRank's backend: pointwise reranking
/// in LimRank's raw format over /v1/completions, built as `limrank rerank
/// --model http://HOST:PORT/v1#NAME` builds it, and the synthesizer's
/// structured requests (`response_format` with a JSON schema) over chat.
/// Runs where llama-cpp-python is installed and usable (a counted skip
/// otherwise, also in CI: see `LlamaCppPython`).
@Suite(.serialized) struct LlamaCppServerTests {
    /// Native engine against llama.cpp on the same Q4_1 SmolLM2, per
    /// P(" true") / (P(" true") + P(" false")). Both dequantise the same
    /// 4-bit weights, but llama.cpp also rounds each activation vector to
    /// 8 bits before a Q4_1 product (its q8_1 dot products) where LimRank's
    /// default keeps f32 activations; measured on these six pairs: at most
    /// 0.0100 apart (scores 0.03-0.08), so 0.02 (see docs/remote.md).
    static let nativeTolerance = 0.02
    /// The server against llama-cpp-python's own in-process logits (the
    /// same library, so only the JSON round trip and the server's batching
    /// of the prompt differ): measured at most 1.4e-17 on SmolLM2.
    static let sameLibraryTolerance = 1e-6
    /// Gemma 3 server against in process: two of three pairs agreed within
    /// 1.1e-7, but the first request on a fresh server was 0.0097 off
    /// (not explained yet: the first prompt's evaluation differs from later
    /// ones with its sliding-window cache); 0.02 admits that, and is far
    /// below what a misread answer would do.
    static let gemmaTolerance = 0.02

    static let queries = [
        Query(id: "q1", text: "flutter of swept wings at supersonic speed"),
        Query(id: "q2", text: "heat transfer to a blunt body in hypersonic flow"),
    ]
    static let documents = [
        Document(id: "d1", title: "Panel flutter", text: "Flutter boundaries of swept wings were measured in a supersonic wind tunnel at Mach numbers from 1.3 to 3.0."),
        Document(id: "d2", text: "The heating rate at the stagnation point of a blunt body in hypersonic flow is computed from the boundary layer equations."),
        Document(id: "d3", text: "A survey of fatigue failures in aircraft landing gear, with recommendations for inspection intervals."),
    ]

    /// The in-process reference: what `limrank rerank --reranker pointwise
    /// --prompt-format limrank --reasoning-tokens 0 --model smollm2` computes.
    static func reranker(_ model: any LanguageModel, concurrency: Int = 1) -> PointwiseLLMReranker {
        var reranker = PointwiseLLMReranker(model: model, format: .limrank, maxPassageTokens: nil, reasoningTokens: 0)
        reranker.concurrency = concurrency
        return reranker
    }

    /// The remote model as `RerankerOptions.make` builds it for `--model URL#NAME --concurrency N`.
    static func remote(_ server: (baseURL: String, name: String), concurrency: Int = 1) throws -> OpenAICompatibleModel {
        try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: server.baseURL, model: server.name, maxConcurrentRequests: concurrency))
    }

    /// The raw prompt each (query, passage) pair is scored at: the answer goes right after it.
    static func forcedPrompts() -> [String] {
        queries.flatMap { query in
            documents.map { document in
                PointwisePrompt.rawPrompt(query: query.text, passage: PointwisePrompt.passage(title: document.title, text: document.text))
                    + PointwisePrompt.forcedAnswerPrefix(reasoning: "")
            }
        }
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF) && LlamaCppPython.enabled()))
    func smolLM2OverLlamaCppMatchesNativeEngine() async throws {
        let local = try NativeLanguageModel(generator: TextGenerator(gguf: Assets.smollm2GGUF))
        var native: [Double] = []
        for query in Self.queries {
            for document in Self.documents {
                native.append(try await Self.reranker(local).judge(query: query, document: document).score)
            }
        }
        let python = try await Self.pythonScores(gguf: Assets.smollm2GGUF, prompts: Self.forcedPrompts())

        try await Self.withServer("smollm2") { server in
            let remote = try Self.remote(server)
            var viaHTTP: [Double] = []
            for query in Self.queries {
                for document in Self.documents {
                    let judged = try await Self.reranker(remote).judge(query: query, document: document)
                    #expect(judged.read, "\(query.id)/\(document.id): no answer read from the server")
                    viaHTTP.append(judged.score)
                }
            }
            print("llama.cpp server vs native SmolLM2 (pointwise, limrank format):")
            for (i, (a, b)) in zip(viaHTTP, native).enumerated() {
                print("  pair \(i): server \(a), native \(b), python \(python[i]), |server - native| \(abs(a - b)), |server - python| \(abs(a - python[i]))")
            }
            for (i, (a, b)) in zip(viaHTTP, native).enumerated() {
                #expect(abs(a - b) < Self.nativeTolerance, "pair \(i): server \(a) vs native \(b)")
                #expect(abs(a - python[i]) < Self.sameLibraryTolerance, "pair \(i): server \(a) vs llama-cpp-python in process \(python[i])")
            }
            // The scores differ between pairs, so agreeing means something.
            #expect(Set(native.map { ($0 * 1000).rounded() }).count > 1)

            // Neither answer is among SmolLM2's top 20 here (" true" ranks
            // below 5,000th), so every score above came through `echo`.
            let top = try await remote.nextTokenLogProbabilities(rawPrompt: Self.forcedPrompts()[0], candidates: [" true", " false"])
            #expect(top == [nil, nil])

            // `--concurrency 4`: the same ranking, requests overlapping at the server.
            let sequential = try await Self.reranker(remote).rerank(query: Self.queries[0], candidates: Self.documents)
            let concurrent = try await Self.reranker(Self.remote(server, concurrency: 4), concurrency: 4)
                .rerank(query: Self.queries[0], candidates: Self.documents)
            #expect(concurrent.results.map(\.documentID) == sequential.results.map(\.documentID))
            for (a, b) in zip(concurrent.results, sequential.results) {
                #expect(abs(a.score - b.score) < Self.sameLibraryTolerance)
            }

            // The synthesizer's openai backend: a structured query and a judge
            // vote through the stages' own request path (`ItemContext.ask`).
            var settings = SynthesisConfiguration()
            settings.maxReasks = 0
            settings.backendRetries = 0
            settings.judgeSamples = 1
            settings.maxTokens.judge = 160
            var context = ItemContext(index: 0, settings: settings, prompts: .builtIn)
            let query = try await context.ask(
                QueryAnswer.self, model: remote, stage: "query", messages: [ChatMessage(.user, """
                    Write a search query that this passage answers, as a JSON object {"query": ..., "instruction": ""}.
                    Passage: \(Self.documents[1].text)
                    """)],
                maxTokens: 160, temperature: 0, format: .query(wantsInstruction: false))
            #expect(!query.query.isEmpty)
            let votes = try await RelevanceJudgeStage(model: remote).votes(query: query, passage: Self.documents[1].text, context: &context)
            #expect(votes.count == 1)
            // Two requests, both answered with parseable JSON the first time.
            #expect(context.usage.requests == 2 && context.usage.reasks == 0)
            print("  structured: query \(query.query.debugDescription), vote \(votes)")
        }
    }

    /// Gemma 3 270M base (Q4_K_M, SentencePiece vocabulary, BOS added): no
    /// native engine to compare with yet, so the server's scores are checked
    /// against llama-cpp-python's in-process logits and for being read,
    /// probabilities, and not all alike.
    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF) && LlamaCppPython.enabled()))
    func gemma3OverLlamaCppScoresPairs() async throws {
        // One query's three passages: each echo request costs the package a
        // Python sort of the 262K vocabulary per prompt token (~10 s here).
        let python = try await Self.pythonScores(gguf: Assets.gemma3GGUF, prompts: Array(Self.forcedPrompts().prefix(Self.documents.count)))
        try await Self.withServer("gemma3") { server in
            let remote = try Self.remote(server)
            var viaHTTP: [Double] = []
            for document in Self.documents {
                let judged = try await Self.reranker(remote).judge(query: Self.queries[0], document: document)
                #expect(judged.read, "\(document.id): no answer read from the server")
                viaHTTP.append(judged.score)
            }
            print("llama.cpp server, Gemma 3 (pointwise, limrank format):")
            for (i, score) in viaHTTP.enumerated() {
                print("  pair \(i): server \(score), python \(python[i])")
                #expect(score > 0 && score < 1)
                #expect(abs(score - python[i]) < Self.gemmaTolerance, "pair \(i): server \(score) vs in process \(python[i])")
            }
            #expect(Set(viaHTTP.map { ($0 * 1000).rounded() }).count > 1)
        }
    }

    /// llama-cpp-python 0.3.36 refuses OpenAI's `json_schema` response
    /// format (its request type allows only `text` and `json_object`; the
    /// validation error comes as a 500, body as it sends it); the client
    /// sends the schema again as `{"type": "json_object", "schema"}`, and
    /// from then on in that shape. Other refusals stay errors.
    @Test func jsonSchemaRefusalIsResentAsJSONObjectSchema() async throws {
        let refusal = #"{"error":{"message":"1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}","type":"internal_server_error"}}"#
        let answer = #"{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"relevant\": true}"},"finish_reason":"stop"}]}"#
        let server = try FaultServer([.respond(status: 500, body: refusal), .respond(status: 200, body: answer)])
        defer { server.stop() }
        let model = try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(server.port)/v1", model: "m", maxRetries: 0))
        let request = {
            var request = GenerationRequest(messages: [ChatMessage(.user, "judge")], maxTokens: 8)
            request.responseFormat = StructuredOutput.judge.responseFormat
            return request
        }()
        #expect(try await model.generate(request) == #"{"relevant": true}"#)
        #expect(try await model.generate(request) == #"{"relevant": true}"#)
        let formats = try server.requests.map { request -> [String: Any] in
            let body = try #require(request.range(of: "\r\n\r\n").map { String(request[$0.upperBound...]) })
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            return try #require(object["response_format"] as? [String: Any])
        }
        #expect(formats.map { $0["type"] as? String } == ["json_schema", "json_object", "json_object"])
        for format in formats.dropFirst() {
            let schema = try #require(format["schema"] as? [String: Any])
            #expect(schema["required"] as? [String] == ["relevant", "reason"])
            #expect(format["json_schema"] == nil)
        }

        // A 422 about something else is not taken for this refusal.
        let other = try FaultServer([.respond(status: 422, body: #"{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}"#)])
        defer { other.stop() }
        let plain = try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(other.port)/v1", model: "m", maxRetries: 0))
        await #expect(throws: LanguageModelError.self) { try await plain.generate(request) }
        #expect(other.requests.count == 1)
    }

    // MARK: Helpers

    /// Runs `body` while `Scripts/llamacpp_server.sh MODEL PORT` serves on a
    /// free port; the script (and with it the server) is stopped afterwards,
    /// whether `body` succeeded or threw.
    static func withServer(_ model: String, _ body: ((baseURL: String, name: String)) async throws -> Void) async throws {
        let (probe, port) = try LoopbackSocket.listener()
        close(probe)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", Assets.repoRoot.appendingPathComponent("Scripts/llamacpp_server.sh").path, model, String(port)]
        var environment = ProcessInfo.processInfo.environment
        environment["LIMRANK_MODELS"] = Assets.modelsDirectory.path
        // Process starts children with the test's signals blocked, so the
        // script is stopped by closing its stdin rather than by SIGTERM.
        environment["LLAMACPP_STOP_ON_EOF"] = "1"
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        // The script prints the server's log there when the server fails.
        process.standardError = FileHandle.standardError
        try process.run()
        // The script's first line is "ready URL#NAME" (or it exits with the reason on stderr).
        let line = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            Thread {
                var text = ""
                while !text.contains("\n") {
                    let chunk = stdout.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                continuation.resume(returning: text)
            }.start()
        }
        func stop() async {
            try? stdin.fileHandleForWriting.close()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread {
                    process.waitUntilExit()
                    continuation.resume()
                }.start()
            }
        }
        guard line.hasPrefix("ready "), let address = line.dropFirst(6).split(separator: "\n").first else {
            await stop()
            Issue.record("llamacpp_server.sh \(model) did not start: \(line.debugDescription)")
            return
        }
        let parts = address.split(separator: "#", maxSplits: 1).map(String.init)
        do {
            try await body((parts[0], parts.count > 1 ? parts[1] : model))
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// `Scripts/fixtures/llamacpp_pointwise.py` on these prompts.
    static func pythonScores(gguf: URL, prompts: [String]) async throws -> [Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Assets.repoRoot.appendingPathComponent("Scripts/fixtures/llamacpp_pointwise.py").path, gguf.path]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(try JSONEncoder().encode(prompts))
        try stdin.fileHandleForWriting.close()
        let (status, out, err) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int32, Data, Data), Never>) in
            Thread {
                let out = stdout.fileHandleForReading.readDataToEndOfFile()
                let err = stderr.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, out, err))
            }.start()
        }
        guard status == 0, let scores = try? JSONDecoder().decode([Double].self, from: out), scores.count == prompts.count else {
            throw LoopbackSocket.Failure(description: "llamacpp_pointwise.py failed (\(status)): \(String(decoding: err.suffix(2000), as: UTF8.self))")
        }
        return scores
    }
}
