import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import Server

/// Hundreds of bad requests over real loopback HTTP: every one gets a 4xx with
/// an OpenAI error body, and the server answers correctly afterwards.
@Suite struct MalformedRequestTests {
    static let configuration = ServerConfiguration(port: 0, maxBodyBytes: 64 << 10, bodyTimeoutSeconds: 0.5,
                                                   maxDocuments: 50, maxEmbeddingInputs: 50, maxGenerationTokens: 64)

    /// A field of an endpoint's body and the kind of value it takes.
    enum Kind { case string, int, bool, number, strings, documents, messages, stop, input, prompt }

    struct Endpoint {
        var path: String
        var valid: [String: Any]
        var fields: [(name: String, kind: Kind, required: Bool)]
    }

    static var endpoints: [Endpoint] { [
        Endpoint(path: "/v1/rerank", valid: ["query": "wing lift", "documents": ["wing", "lift drag"], "top_n": 1],
                 fields: [("model", .string, false), ("query", .string, true), ("documents", .documents, true),
                          ("top_n", .int, false), ("return_documents", .bool, false)]),
        Endpoint(path: "/rerank", valid: ["query": "wing lift", "texts": ["wing", "lift drag"]],
                 fields: [("query", .string, true), ("texts", .strings, true), ("raw_scores", .bool, false), ("return_text", .bool, false)]),
        Endpoint(path: "/v1/embeddings", valid: ["input": ["wing", "lift"]],
                 fields: [("input", .input, true), ("model", .string, false), ("encoding_format", .string, false), ("dimensions", .int, false)]),
        Endpoint(path: "/v1/chat/completions", valid: ["messages": [["role": "user", "content": "hi"]], "max_tokens": 4],
                 fields: [("messages", .messages, true), ("model", .string, false), ("max_tokens", .int, false),
                          ("temperature", .number, false), ("top_p", .number, false), ("seed", .int, false), ("stop", .stop, false),
                          ("stream", .bool, false), ("logprobs", .bool, false), ("n", .int, false)]),
        Endpoint(path: "/v1/completions", valid: ["prompt": "hello", "max_tokens": 4],
                 fields: [("prompt", .prompt, true), ("model", .string, false), ("max_tokens", .int, false), ("temperature", .number, false),
                          ("seed", .int, false), ("stop", .stop, false), ("stream", .bool, false), ("logprobs", .int, false)]),
    ] }

    /// Values of the wrong JSON type for each kind.
    static func wrongValues(_ kind: Kind) -> [Any] {
        switch kind {
        case .string: return [12345, [String](), [String: Any](), true]
        case .int: return ["7", [Int](), [String: Any](), true, 1.5]
        case .bool: return ["yes", 1, [Bool](), [String: Any]()]
        case .number: return ["0.5", [Double](), [String: Any](), true]
        case .strings: return ["text", 12345, [String: Any](), [1, 2], [NSNull()], [true]]
        case .documents: return ["text", 12345, [String: Any](), [1], [NSNull()], [["txt": "x"]], [["text": 5]]]
        case .messages: return ["hi", 12345, [String: Any](), ["hi"], [["role": "user"]], [["content": "hi"]],
                                [["role": 5, "content": "hi"]], [["role": "user", "content": 5]]]
        case .stop: return [12345, [1], [String: Any](), true]
        case .input: return [12345, [String: Any](), [1, 2], [[1, 2]], [NSNull()], true]
        case .prompt: return [12345, [String: Any](), ["a", "b"], [1, 2], true]
        }
    }

    /// Well-typed values the endpoints must still refuse.
    static var semanticErrors: [(String, [String: Any])] { [
        ("/v1/rerank", ["query": "", "documents": ["a"]]),
        ("/v1/rerank", ["query": "   ", "documents": ["a"]]),
        ("/v1/rerank", ["query": "a", "documents": [String]()]),
        ("/v1/rerank", ["query": "a", "documents": ["a"], "top_n": 0]),
        ("/v1/rerank", ["query": "a", "documents": ["a"], "top_n": -3]),
        ("/v1/rerank", ["query": "a", "documents": ["a"], "model": "some-other-model"]),
        ("/v1/rerank", ["query": "a", "documents": Array(repeating: "d", count: 51)]),
        ("/rerank", ["query": "", "texts": ["a"]]),
        ("/rerank", ["query": "a", "texts": [String]()]),
        ("/rerank", ["query": "a", "texts": Array(repeating: "d", count: 51)]),
        ("/v1/embeddings", ["input": [String]()]),
        ("/v1/embeddings", ["input": ["a"], "encoding_format": "int8"]),
        ("/v1/embeddings", ["input": ["a"], "dimensions": 3]),
        ("/v1/embeddings", ["input": ["a"], "model": "text-embedding-3-large"]),
        ("/v1/embeddings", ["input": Array(repeating: "d", count: 51)]),
        ("/v1/chat/completions", ["messages": [[String: Any]]()]),
        ("/v1/chat/completions", ["messages": [["role": "tool", "content": "x"]]]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": [["type": "image_url", "image_url": "x"]]]]]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": 0]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": -5]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": 1_000_000]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "temperature": 3]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "temperature": -0.1]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "top_p": 0]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "n": 2]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "stop": ["a", "b", "c", "d", "e"]]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "stop": [""]]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "logprobs": true, "top_logprobs": 21]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "top_logprobs": 2]),
        ("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "model": "gpt-4o"]),
        ("/v1/completions", ["prompt": ""]),
        ("/v1/completions", ["prompt": "a", "echo": true]),
        ("/v1/completions", ["prompt": "a", "suffix": "b"]),
        ("/v1/completions", ["prompt": "a", "logprobs": 21]),
        ("/v1/completions", ["prompt": "a", "logprobs": -1]),
        ("/v1/completions", ["prompt": "a", "max_tokens": 65]),
        ("/v1/completions", ["prompt": "a", "n": 0]),
    ] }

    /// Bodies that are not a usable JSON object at all.
    static let brokenBodies: [String] = [
        "", " ", "null", "true", "42", "\"text\"", "[]", "[1,2]", "{", "}", "{]", "{\"query\":", "nul",
        "{'query':'a'}", "{\"query\":\"a\",}", "{\"a\":1e999999}", String(repeating: "[", count: 5000),
        "{\"query\": \"a\" \"documents\": []}", "\u{feff}{}", "{}",
    ]

    struct Outcome: Sendable {
        var label: String
        var status: Int
        var isErrorShape: Bool
    }

    static func post(_ client: HTTPClient, _ port: Int, _ path: String, _ body: [UInt8]) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), text)
    }

    static func isErrorShape(_ text: String) -> Bool {
        let object = jsonObject(text)
        return ((object["error"] as? [String: Any])?["message"] as? String).map { !$0.isEmpty } ?? false
    }

    static func encode(_ object: Any) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    @Test func everyBadRequestGetsA4xxAndTheServerStaysCorrect() async throws {
        let app = try makeApp(Self.configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let http = HTTPClient.shared
            var cases: [(String, String, [UInt8])] = []
            for endpoint in Self.endpoints {
                for (index, body) in Self.brokenBodies.enumerated() {
                    cases.append(("\(endpoint.path) broken #\(index)", endpoint.path, Array(body.utf8)))
                }
                for field in endpoint.fields {
                    for (index, value) in Self.wrongValues(field.kind).enumerated() {
                        var body = endpoint.valid
                        body[field.name] = value
                        cases.append(("\(endpoint.path) \(field.name) wrong type #\(index)", endpoint.path, Self.encode(body)))
                    }
                    if field.required {
                        var missing = endpoint.valid
                        missing[field.name] = nil
                        cases.append(("\(endpoint.path) missing \(field.name)", endpoint.path, Self.encode(missing)))
                        var null = endpoint.valid
                        null[field.name] = NSNull()
                        cases.append(("\(endpoint.path) null \(field.name)", endpoint.path, Self.encode(null)))
                    }
                }
                // Invalid UTF-8 inside a string value, and as a stray byte.
                var valid = Self.encode(endpoint.valid)
                if let quote = valid.lastIndex(of: UInt8(ascii: "\"")) {
                    var broken = valid
                    broken.insert(contentsOf: [0xff, 0xfe], at: quote)
                    cases.append(("\(endpoint.path) invalid UTF-8 in string", endpoint.path, broken))
                    broken = valid
                    broken.insert(contentsOf: [0xc0, 0xaf], at: quote)
                    cases.append(("\(endpoint.path) overlong UTF-8", endpoint.path, broken))
                }
                valid.insert(0x80, at: 0)
                cases.append(("\(endpoint.path) stray continuation byte", endpoint.path, valid))
                // Larger than the body limit.
                var huge = endpoint.valid
                huge["padding"] = String(repeating: "x", count: 70 << 10)
                cases.append(("\(endpoint.path) huge body", endpoint.path, Self.encode(huge)))
            }
            for (path, body) in Self.semanticErrors {
                cases.append(("\(path) semantic \(body.keys.sorted())", path, Self.encode(body)))
            }
            for path in ["/v2/rerank", "/v1/rerank/x", "/", "/v1", "/v1/chat"] {
                cases.append(("unknown path \(path)", path, Array("{}".utf8)))
            }

            var outcomes: [Outcome] = []
            for (label, path, body) in cases {
                let (status, text) = try await Self.post(http, port, path, body)
                outcomes.append(Outcome(label: label, status: status, isErrorShape: Self.isErrorShape(text)))
            }
            // Wrong methods on real endpoints.
            for path in ["/v1/rerank", "/v1/embeddings", "/v1/chat/completions"] {
                let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                outcomes.append(Outcome(label: "GET \(path)", status: Int(response.status.code), isErrorShape: Self.isErrorShape(text)))
            }
            // Blocking socket I/O must not sit on the cooperative pool: on two
            // cores it would starve the in-process server it is waiting for
            // (which is how these exchanges once timed out with no status).
            outcomes += try await LoopbackSocket.onOwnThread { try Self.socketLevelAbuse(port: port) }

            #expect(outcomes.count >= 200, "only \(outcomes.count) bad requests")
            for outcome in outcomes {
                #expect((400..<500).contains(outcome.status), "\(outcome.label): status \(outcome.status)")
                #expect(outcome.isErrorShape, "\(outcome.label): not an OpenAI error body")
            }
            let tooLarge = outcomes.filter { $0.label.hasSuffix("huge body") }
            #expect(tooLarge.allSatisfy { $0.status == 413 })

            // Still correct: the same rerank as a fresh server gives, and a generation.
            let body = Self.encode(["query": "wing lift", "documents": ["heat transfer", "wing lift", "lift"]])
            let (status, text) = try await Self.post(http, port, "/v1/rerank", body)
            #expect(status == 200)
            let indices = (jsonObject(text)["results"] as? [[String: Any]])?.compactMap { $0["index"] as? Int }
            #expect(indices == [1, 2, 0])
            let chat = try await Self.post(http, port, "/v1/chat/completions", Self.encode(["messages": [["role": "user", "content": "hi"]], "max_tokens": 3]))
            #expect(chat.0 == 200)
            let health = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(10))
            #expect(health.status == .ok)
        }
    }

    /// Things only a raw socket can send: a body that trickles and stops, a
    /// chunked body past the limit, an unparseable Content-Length.
    static func socketLevelAbuse(port: Int) throws -> [Outcome] {
        func statusLine(_ response: String) -> Int {
            let parts = response.split(separator: " ", maxSplits: 2)
            return parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        }
        func body(_ response: String) -> String {
            response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? ""
        }
        func exchange(_ label: String, _ send: (Int32) -> Void) throws -> Outcome {
            let fd = try LoopbackSocket.dial(port: port)
            defer { close(fd) }
            send(fd)
            let response = LoopbackSocket.read(fd) { text in
                guard let end = text.range(of: "\r\n\r\n") else { return false }
                let head = text[..<end.lowerBound].lowercased()
                guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                      let length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) else { return false }
                return text.utf8.count - text[..<end.upperBound].utf8.count >= length
            }
            var shaped = isErrorShape(body(response))
            // A malformed request line or header is refused by the HTTP parser
            // itself, before any handler runs; a bare 400 is the right answer there.
            if label.hasPrefix("parser:") { shaped = true }
            return Outcome(label: label, status: statusLine(response), isErrorShape: shaped)
        }
        var outcomes: [Outcome] = []
        for path in ["/v1/rerank", "/v1/embeddings", "/v1/chat/completions"] {
            outcomes.append(try exchange("slow body \(path)") { fd in
                LoopbackSocket.write(fd, "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"query\":")
                Thread.sleep(forTimeInterval: 0.2)
                LoopbackSocket.write(fd, "\"a")
            })
            outcomes.append(try exchange("chunked past limit \(path)") { fd in
                LoopbackSocket.write(fd, "POST \(path) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                let chunk = String(repeating: "y", count: 16 << 10)
                for _ in 0..<6 { LoopbackSocket.write(fd, String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n") }
                LoopbackSocket.write(fd, "0\r\n\r\n")
            })
            outcomes.append(try exchange("declared too large \(path)") { fd in
                LoopbackSocket.write(fd, "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{")
            })
        }
        outcomes.append(try exchange("parser: bad content-length") { fd in
            LoopbackSocket.write(fd, "POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
        })
        return outcomes
    }
}
