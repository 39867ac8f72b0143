import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Testing
@testable import Server

/// Each endpoint, driven through the router in process, answers in the shape
/// its OpenAPI document declares, with values that follow from the backends.
@Suite struct EndpointShapeTests {
    let validator: OpenAPIValidator

    init() throws {
        validator = try OpenAPIValidator(json: OpenAPIDocument.json)
    }

    func check(_ reply: Reply, path: String, method: String = "post", contentType: String = "application/json") throws {
        let schema = try #require(validator.responseSchema(path: path, method: method, contentType: contentType))
        try validator.validate(try #require(reply.json), against: schema)
    }

    @Test func healthModelsAndOpenAPI() async throws {
        try await makeApp().test(.router) { client in
            let health = try await client.send(.get, "/health")
            #expect(health.status == 200)
            try check(health, path: "/health", method: "get")

            let models = try await client.send(.get, "/v1/models")
            try check(models, path: "/v1/models", method: "get")
            let entries = try #require(models.object["data"] as? [[String: Any]])
            #expect(Set(entries.compactMap { $0["id"] as? String }) == ["word-hash", "toy"])

            let document = try await client.send(.get, "/openapi.json")
            #expect(document.status == 200)
            let paths = try #require(document.object["paths"] as? [String: Any])
            #expect(Set(paths.keys) == Set(ServerMetrics.knownPaths))
        }
    }

    @Test func cohereRerankOrdersByCosine() async throws {
        let documents = ["boundary layer transition", "lift and drag of a swept wing", "wing lift", "heat transfer"]
        let query = "wing lift"
        let embedder = WordHashEmbedder()
        let vectors = try await embedder.embed([query] + documents)
        let cosines = documents.indices.map { cosineSimilarity(vectors[0], vectors[$0 + 1]) }
        let expected = documents.indices.sorted { cosines[$0] != cosines[$1] ? cosines[$0] > cosines[$1] : $0 < $1 }

        try await makeApp().test(.router) { client in
            let body = #"{"model":"word-hash","query":"wing lift","documents":["boundary layer transition",{"text":"lift and drag of a swept wing"},"wing lift","heat transfer"],"top_n":3,"return_documents":true}"#
            let reply = try await client.send(.post, "/v1/rerank", json: body)
            #expect(reply.status == 200)
            try check(reply, path: "/v1/rerank")
            let results = try #require(reply.object["results"] as? [[String: Any]])
            #expect(results.compactMap { $0["index"] as? Int } == Array(expected.prefix(3)))
            for result in results {
                let index = try #require(result["index"] as? Int)
                #expect(abs((result["relevance_score"] as? Double ?? .nan) - cosines[index]) < 1e-6)
                #expect((result["document"] as? [String: Any])?["text"] as? String == documents[index])
            }
        }
    }

    @Test func teiRerankNormalisesUnlessRaw() async throws {
        try await makeApp().test(.router) { client in
            let normalised = try await client.send(.post, "/rerank", json: #"{"query":"wing lift","texts":["heat","wing lift"],"return_text":true}"#)
            try check(normalised, path: "/rerank")
            let raw = try await client.send(.post, "/rerank", json: #"{"query":"wing lift","texts":["heat","wing lift"],"raw_scores":true}"#)
            try check(raw, path: "/rerank")
            let n = try #require(normalised.json as? [[String: Any]])
            let r = try #require(raw.json as? [[String: Any]])
            #expect(n.compactMap { $0["index"] as? Int } == [1, 0])
            #expect(n.first?["text"] as? String == "wing lift")
            #expect(r.first?["text"] == nil)
            for (a, b) in zip(n, r) {
                let rawScore = try #require(b["score"] as? Double)
                #expect(abs((a["score"] as? Double ?? .nan) - (rawScore + 1) / 2) < 1e-9)
            }
        }
    }

    @Test func embeddingsFloatAndBase64Agree() async throws {
        let expected = try await WordHashEmbedder().embed(["wing lift", "drag"])
        try await makeApp().test(.router) { client in
            let floats = try await client.send(.post, "/v1/embeddings", json: #"{"input":["wing lift","drag"],"model":"word-hash"}"#)
            try check(floats, path: "/v1/embeddings")
            let data = try #require(floats.object["data"] as? [[String: Any]])
            let vectors = data.map { ($0["embedding"] as? [Double] ?? []).map(Float.init) }
            #expect(vectors == expected)

            let encoded = try await client.send(.post, "/v1/embeddings", json: #"{"input":"wing lift","encoding_format":"base64"}"#)
            try check(encoded, path: "/v1/embeddings")
            let text = try #require((encoded.object["data"] as? [[String: Any]])?.first?["embedding"] as? String)
            let bytes = try #require(Data(base64Encoded: text))
            let raw = [UInt8](bytes)
            var decoded: [Float] = []
            for offset in stride(from: 0, to: raw.count, by: 4) {
                var bits = UInt32(raw[offset])
                bits |= UInt32(raw[offset + 1]) << 8
                bits |= UInt32(raw[offset + 2]) << 16
                bits |= UInt32(raw[offset + 3]) << 24
                decoded.append(Float(bitPattern: bits))
            }
            #expect(decoded == expected[0])
        }
    }

    @Test func chatCompletionStreamMatchesWholeAnswer() async throws {
        let request = #"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Query: wing\nPassage: wing"}]}],"max_tokens":12,"temperature":0,"logprobs":true,"top_logprobs":3"#
        try await makeApp().test(.router) { client in
            let whole = try await client.send(.post, "/v1/chat/completions", json: request + "}")
            #expect(whole.status == 200)
            try check(whole, path: "/v1/chat/completions")
            let choice = try #require((whole.object["choices"] as? [[String: Any]])?.first)
            let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
            let tokens = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(tokens.map { $0["token"] as? String ?? "" }.joined() == content)
            #expect(tokens.allSatisfy { ($0["top_logprobs"] as? [Any])?.count == 3 })
            let usage = try #require(whole.object["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == tokens.count)

            let streamed = try await client.send(.post, "/v1/chat/completions",
                                                 json: request + #","stream":true,"stream_options":{"include_usage":true}}"#)
            #expect(streamed.status == 200)
            #expect(streamed.headers[.contentType] == "text/event-stream")
            let events = serverSentEvents(streamed.text)
            #expect(events.last == "[DONE]")
            let chunkSchema = try #require(validator.responseSchema(path: "/v1/chat/completions", method: "post", contentType: "text/event-stream"))
            var text = ""
            var finish: String?
            for payload in events.dropLast() {
                let chunk = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
                try validator.validate(chunk, against: chunkSchema)
                for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                    text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
                    if let reason = choice["finish_reason"] as? String { finish = reason }
                }
            }
            #expect(text == content)
            #expect(finish == choice["finish_reason"] as? String)
            #expect(jsonObject(events[events.count - 2])["usage"] != nil)
        }
    }

    @Test func completionsHonourStopSeedAndLogprobs() async throws {
        try await makeApp().test(.router) { client in
            let free = try await client.send(.post, "/v1/completions", json: #"{"prompt":"Query: a\nPassage: b","max_tokens":30,"temperature":0}"#)
            try check(free, path: "/v1/completions")
            let freeText = try #require((free.object["choices"] as? [[String: Any]])?.first?["text"] as? String)
            // Stop at the two characters after the first of the greedy answer: the answer is cut
            // right before their first occurrence. The test model's answer must be long enough.
            try #require(freeText.count >= 3, "greedy answer too short to test stop strings: \(freeText.debugDescription)")
            let stop = String(freeText.dropFirst(1).prefix(2))
            let stopAt = try #require(freeText.range(of: stop))
            let body = #"{"prompt":"Query: a\nPassage: b","max_tokens":30,"temperature":0,"stop":"# + "\(try String(decoding: JSONEncoder().encode(stop), as: UTF8.self))}"
            let cut = try await client.send(.post, "/v1/completions", json: body)
            let cutChoice = try #require((cut.object["choices"] as? [[String: Any]])?.first)
            let cutText = try #require(cutChoice["text"] as? String)
            #expect(cutText == String(freeText[..<stopAt.lowerBound]))
            #expect(cutChoice["finish_reason"] as? String == "stop")
            let sampled = #"{"prompt":"Query: a\nPassage: b","max_tokens":20,"temperature":1.0,"seed":42,"logprobs":2}"#
            let a = try await client.send(.post, "/v1/completions", json: sampled)
            let b = try await client.send(.post, "/v1/completions", json: sampled)
            try check(a, path: "/v1/completions")
            #expect((a.object["choices"] as? [[String: Any]])?.first?["text"] as? String
                == (b.object["choices"] as? [[String: Any]])?.first?["text"] as? String)
            let logprobs = try #require((a.object["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
            let tops = try #require(logprobs["top_logprobs"] as? [[String: Any]])
            let tokens = try #require(logprobs["tokens"] as? [String])
            // One entry of at most two alternatives per generated token, and at least one token,
            // so the check cannot pass on an empty answer.
            try #require(!tokens.isEmpty, "the sampled answer is empty; nothing to check")
            #expect(tops.count == tokens.count)
            #expect(tops.allSatisfy { $0.count <= 2 && !$0.isEmpty })

            let streamed = try await client.send(.post, "/v1/completions", json: #"{"prompt":"Query: a\nPassage: b","max_tokens":30,"temperature":0,"stream":true}"#)
            let events = serverSentEvents(streamed.text)
            #expect(events.last == "[DONE]")
            let joined = events.dropLast().map { (jsonObject($0)["choices"] as? [[String: Any]])?.first?["text"] as? String ?? "" }.joined()
            #expect(joined == freeText)
        }
    }

    @Test func bearerAuthGuardsAllButHealth() async throws {
        let app = try makeApp(ServerConfiguration(port: 0, apiKey: "s3cret"))
        try await app.test(.router) { client in
            #expect(try await client.send(.get, "/health").status == 200)
            let denied = try await client.send(.get, "/v1/models")
            #expect(denied.status == 401)
            #expect(denied.errorMessage != nil)
            let wrong = try await client.send(.get, "/v1/models", headers: [.authorization: "Bearer s3cres"])
            #expect(wrong.status == 401)
            #expect(try await client.send(.get, "/v1/models", headers: [.authorization: "Bearer s3cret"]).status == 200)
        }
    }

    @Test func metricsCountRequests() async throws {
        try await makeApp().test(.router) { client in
            _ = try await client.send(.post, "/v1/rerank", json: #"{"query":"a","documents":["a","b"]}"#)
            _ = try await client.send(.get, "/nowhere")
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"limrank_http_requests_total{method="POST",path="/v1/rerank",status="200"} 1"#))
            #expect(metrics.text.contains(#"path="other",status="404""#))
            #expect(metrics.text.contains("limrank_encoder_batch_texts"))
        }
    }

    @Test func unknownPathAndMissingBackendAreOpenAIErrors() async throws {
        let app = try makeApp(backends: ServerBackends(embedder: WordHashEmbedder()))
        try await app.test(.router) { client in
            let missing = try await client.send(.get, "/v2/nothing")
            #expect(missing.status == 404)
            try validator.validate(try #require(missing.json), against: validator.schema(named: "Error"))
            let noGenerator = try await client.send(.post, "/v1/chat/completions", json: #"{"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(noGenerator.status == 404)
            #expect(noGenerator.errorMessage?.contains("generation model") == true)
        }
    }
}
