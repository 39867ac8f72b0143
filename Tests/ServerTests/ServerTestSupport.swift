import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
@testable import Server

/// Builds an in-process app over the test backends.
func makeApp(_ configuration: ServerConfiguration = ServerConfiguration(port: 0),
             backends: ServerBackends = ServerBackends(embedder: WordHashEmbedder(), generator: ToyGenerator(), reranker: .dense))
    throws -> some ApplicationProtocol {
    try buildApplication(configuration: configuration, backends: backends)
}

struct Reply: Sendable {
    var status: Int
    var headers: HTTPFields
    var text: String

    var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    var array: [Any] { json as? [Any] ?? [] }
    /// The message of an OpenAI error body, nil when the body is not one.
    var errorMessage: String? { (object["error"] as? [String: Any])?["message"] as? String }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var all = headers
        if json != nil { all[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: all, body: json.map { ByteBuffer(string: $0) }) { response in
            Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
        }
    }

    func sendBytes(_ method: HTTPRequest.Method, _ uri: String, bytes: [UInt8]) async throws -> Reply {
        try await execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: bytes)) { response in
            Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
        }
    }
}

/// Splits a server-sent-event body into its `data:` payloads.
func serverSentEvents(_ text: String) -> [String] {
    text.components(separatedBy: "\n\n").compactMap { block in
        let line = block.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
    }
}

func jsonObject(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}
