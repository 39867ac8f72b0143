import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Models
import Testing
import TestSupport
@testable import Server

/// `limrank serve` as the official Python SDKs see it (`Scripts/sdk_clients.py`
/// with `openai` and `cohere` from PyPI): models, embeddings, chat plain,
/// streamed and with a strict JSON schema, completions with echo and
/// logprobs, a wrong key, and Cohere v1 and v2 rerank, all addressed by the
/// short names the server was started with. Skipped, counted, when the
/// packages are not installed (`Scripts/test.sh` installs them).
@Suite struct SDKClientTests {
    static let fixture = Assets.repoRoot.appendingPathComponent("Tests/RerankingTests/Fixtures/limrank")

    @Test(.enabled(if: PythonPackages.enabled(["openai", "cohere"])))
    func officialSDKsWork() async throws {
        let generator = try TextGenerator(directory: Self.fixture)
        let embedder = WordHashEmbedder()
        var backends = ServerBackends(embedder: embedder, generator: NativeStreamingGenerator(generator), reranker: .dense)
        // As `limrank serve --generation-model tiny --embedding-model hash` would alias them.
        backends.aliases = ["tiny": generator.identifier, "hash": embedder.identifier]
        let key = "sdk-test-key"
        let app = try makeApp(ServerConfiguration(port: 0, apiKey: key), backends: backends)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let root = "http://127.0.0.1:\(port)"
            let auth: HTTPFields = [.authorization: "Bearer \(key)"]
            // What the server ranks, asked without an SDK.
            let direct = try await client.send(.post, "/v1/rerank", json: #"""
                {"model":"hash","query":"supersonic wing flutter","documents":["boundary layer transition","wing flutter at supersonic speed","heat transfer in hypersonic flow"]}
                """#, headers: auth)
            #expect(direct.status == 200)
            let expected = try #require(direct.object["results"] as? [[String: Any]]).map { ($0["index"] as! Int, $0["relevance_score"] as! Double) }

            let output = try await Self.runScript([root, key, "tiny", "hash", "hash"])
            let result = jsonObject(output)
            #expect((result["models"] as? [String])?.contains(generator.identifier) == true)

            let vectors = try #require(result["embeddings"] as? [[Double]])
            let local = try await embedder.embed(["wing flutter at supersonic speed", "boundary layer"])
            #expect(vectors.count == 2 && vectors[0].count == embedder.dimension)
            for (a, b) in zip(vectors.joined(), local.joined()) { #expect(abs(a - Double(b)) < 1e-6) }

            let chat = try #require(result["chat"] as? String)
            #expect(!chat.isEmpty)
            #expect(result["chat_streamed"] as? String == chat)
            let structured = try #require((result["json_schema"] as? String).map { jsonObject($0) })
            #expect(structured["relevant"] is Bool && structured.count == 1)

            let completion = try #require(result["completion"] as? [String: Any])
            let tokens = try #require(completion["tokens"] as? [String])
            let offsets = try #require(completion["text_offset"] as? [Int])
            let values = try #require(completion["token_logprobs"] as? [Any])
            #expect(tokens.joined() == completion["text"] as? String)
            #expect((completion["text"] as? String)?.hasPrefix("The quick brown fox") == true)
            #expect(offsets.first == 0 && values.count == tokens.count)
            #expect(values.dropFirst().allSatisfy { ($0 as? Double).map { $0 <= 0 } ?? false })

            #expect(result["wrong_key"] as? Int == 401)

            for version in ["cohere_v1", "cohere_v2"] {
                let got = try #require(result[version] as? [[Double]], "\(version)")
                #expect(got.map { Int($0[0]) } == expected.map { $0.0 }, "\(version)")
                for (a, b) in zip(got, expected) { #expect(abs(a[1] - b.1) < 1e-9, "\(version)") }
            }
        }
    }

    /// `--served-model-name`: the only name accepted and the one reported;
    /// without it the short name the server was started with is accepted.
    @Test func servedNamesAndAliases() async throws {
        var backends = ServerBackends(generator: ToyGenerator())
        backends.aliases = ["toy-short": "toy"]
        @Sendable func body(_ model: String) -> String { #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}],"max_tokens":2}"# }
        try await makeApp(backends: backends).test(.router) { client in
            let short = try await client.send(.post, "/v1/chat/completions", json: body("toy-short"))
            let own = try await client.send(.post, "/v1/chat/completions", json: body("toy"))
            let other = try await client.send(.post, "/v1/chat/completions", json: body("other"))
            #expect(short.status == 200 && own.status == 200 && other.status == 404)
        }
        var configuration = ServerConfiguration(port: 0)
        configuration.servedModelName = "my-model"
        try await makeApp(configuration, backends: backends).test(.router) { client in
            let reply = try await client.send(.post, "/v1/chat/completions", json: body("my-model"))
            #expect(reply.status == 200 && reply.object["model"] as? String == "my-model")
            let alias = try await client.send(.post, "/v1/chat/completions", json: body("toy-short"))
            #expect(alias.status == 404)
            let models = try await client.send(.get, "/v1/models")
            #expect((models.object["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["my-model"])
        }
    }

    @Test func cohereV2RerankShape() async throws {
        try await makeApp().test(.router) { client in
            let reply = try await client.send(.post, "/v2/rerank", json: #"""
                {"model":"word-hash","query":"wing","documents":["a wing","a jet","wing wing"],"top_n":2,"return_documents":true}
                """#)
            #expect(reply.status == 200)
            let results = try #require(reply.object["results"] as? [[String: Any]])
            #expect(results.count == 2 && results.allSatisfy { $0["document"] == nil && $0["relevance_score"] is Double })
            #expect(((reply.object["meta"] as? [String: Any])?["api_version"] as? [String: Any])?["version"] as? String == "2")
        }
    }

    /// Runs the script on a thread of its own: waiting for it on the
    /// cooperative pool could starve the server it is talking to.
    static func runScript(_ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Assets.repoRoot.appendingPathComponent("Scripts/sdk_clients.py").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        // The SDKs must reach loopback directly, whatever proxy the machine sets.
        environment["NO_PROXY"] = "127.0.0.1,localhost"
        environment["no_proxy"] = "127.0.0.1,localhost"
        process.environment = environment
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let (status, out, err) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int32, Data, Data), Never>) in
            Thread {
                // Read before waiting: a full pipe would block the script.
                let out = stdout.fileHandleForReading.readDataToEndOfFile()
                let err = stderr.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, out, err))
            }.start()
        }
        #expect(status == 0, "sdk_clients.py failed: \(String(decoding: err, as: UTF8.self))")
        return String(decoding: out, as: UTF8.self)
    }
}
