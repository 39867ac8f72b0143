import Foundation
import Hummingbird
import HummingbirdTesting
import LanguageModels
import Models
import Testing
import Tokenizers
@testable import Server

/// `response_format` and `grammar` on /v1/chat/completions and /v1/completions:
/// the native generator's output is constrained (the tiny random-weight Qwen2
/// of the Models tests writes JSON only because of the grammar), and bad
/// schemas or grammars are 400s that say where they are wrong.
@Suite struct ResponseFormatTests {
    static func tinyNativeGenerator() throws -> NativeStreamingGenerator {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/tiny-qwen2")
        let model = try LlamaModel(qwen2: fixture)
        let tokens = (0..<256).map { String(ByteLevelAlphabet.scalarForByte[$0]) }
        let tokenizer = try Tokenizer(ggufTokens: tokens, merges: [], tokenTypes: [], pre: "gpt2")
        return NativeStreamingGenerator(TextGenerator(model: model, tokenizer: tokenizer, endOfSequenceIDs: [], identifier: "tiny-qwen2"))
    }

    static let configuration = ServerConfiguration(port: 0, maxGenerationTokens: 120)

    /// Keys come out in the order of `properties` (read from the raw body), not of `required`.
    static let schema = #"{"type": "object", "properties": {"n": {"type": "integer"}, "answer": {"enum": ["yes", "no"]}}, "required": ["answer", "n"], "additionalProperties": false}"#

    @Test func jsonSchemaConstrainsBothEndpoints() async throws {
        let app = try makeApp(Self.configuration, backends: ServerBackends(generator: try Self.tinyNativeGenerator()))
        try await app.test(.router) { client in
            let format = #"{"type": "json_schema", "json_schema": {"name": "verdict", "strict": true, "schema": \#(Self.schema)}}"#
            let chat = try await client.send(.post, "/v1/chat/completions", json: #"""
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 76, "temperature": 0, "response_format": \#(format)}
                """#)
            #expect(chat.status == 200, "\(chat.text)")
            // The chat prompt is 52 tokens of the 128-token context: 80 more do not
            // fit and are refused as the client's error, naming the limit.
            let tooLong = try await client.send(.post, "/v1/chat/completions", json: #"""
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 80, "temperature": 0}
                """#)
            #expect(tooLong.status == 400, "\(tooLong.text)")
            #expect(tooLong.text.contains("past the model's context of 128: ask for at most 76 tokens"), "\(tooLong.text)")
            let choice = (chat.object["choices"] as? [[String: Any]])?.first
            #expect(choice?["finish_reason"] as? String == "stop")
            let content = (choice?["message"] as? [String: Any])?["content"] as? String ?? ""
            let answer = try JSONSerialization.jsonObject(with: Data(content.utf8)) as? [String: Any]
            #expect(content.range(of: "\"n\"")!.lowerBound < content.range(of: "\"answer\"")!.lowerBound, "\(content)")
            #expect(["yes", "no"].contains(answer?["answer"] as? String ?? ""), "\(content)")
            #expect(answer?["n"] is Int, "\(content)")
            #expect(answer?.count == 2)

            let completion = try await client.send(.post, "/v1/completions", json: #"""
                {"prompt": "x", "max_tokens": 100, "temperature": 0.7, "seed": 3, "response_format": \#(format)}
                """#)
            #expect(completion.status == 200, "\(completion.text)")
            let completionChoice = (completion.object["choices"] as? [[String: Any]])?.first
            let text = completionChoice?["text"] as? String ?? ""
            #expect(completionChoice?["finish_reason"] as? String == "stop", "\(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(text)")
        }
    }

    @Test func jsonObjectAndGrammarAndCutOffs() async throws {
        let app = try makeApp(Self.configuration, backends: ServerBackends(generator: try Self.tinyNativeGenerator()))
        try await app.test(.router) { client in
            let cut = try await client.send(.post, "/v1/completions", json: #"""
                {"prompt": "x", "max_tokens": 1, "temperature": 0, "response_format": {"type": "json_object"}}
                """#)
            let choice = (cut.object["choices"] as? [[String: Any]])?.first
            #expect(choice?["finish_reason"] as? String == "length")
            #expect(choice?["text"] as? String == "{", "\(cut.text)")
            let grammar = try await client.send(.post, "/v1/completions", json: #"""
                {"prompt": "x", "max_tokens": 20, "temperature": 0, "grammar": "root ::= (\"ab\" | \"cd\") [0-9]"}
                """#)
            let text = ((grammar.object["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(text.count == 3 && (text.hasPrefix("ab") || text.hasPrefix("cd")) && text.last!.isNumber, "\(grammar.text)")
            // Streaming goes through the same generator.
            let streamed = try await client.send(.post, "/v1/chat/completions", json: #"""
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 76, "temperature": 0, "stream": true,
                 "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": \#(Self.schema)}}}
                """#)
            var content = ""
            for event in serverSentEvents(streamed.text) where event != "[DONE]" {
                let delta = ((jsonObject(event)["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
                content += delta ?? ""
            }
            #expect((try? JSONSerialization.jsonObject(with: Data(content.utf8))) is [String: Any], "\(content)")
        }
    }

    @Test func badFormatsAreOpenAIShaped400s() async throws {
        let app = try makeApp(Self.configuration)
        try await app.test(.router) { client in
            func error(_ body: String, path: String = "/v1/chat/completions") async throws -> (status: Int, message: String, param: String?) {
                let reply = try await client.send(.post, path, json: body)
                let error = reply.object["error"] as? [String: Any]
                return (reply.status, error?["message"] as? String ?? "", error?["param"] as? String)
            }
            let messages = #""messages": [{"role": "user", "content": "hi"}]"#
            let pattern = try await error(#"{\#(messages), "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a"}}}}}}"#)
            #expect(pattern.status == 400)
            #expect(pattern.param == "response_format.json_schema.schema")
            #expect(pattern.message.contains("#/properties/a/pattern"), "\(pattern.message)")
            let missing = try await error(#"{\#(messages), "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}"#)
            #expect(missing.status == 400 && missing.param == "response_format")
            let type = try await error(#"{"prompt": "x", "response_format": {"type": "xml"}}"#, path: "/v1/completions")
            #expect(type.status == 400 && type.param == "response_format.type")
            let name = try await error(#"{\#(messages), "response_format": {"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}}"#)
            #expect(name.status == 400 && name.param == "response_format.json_schema.name")
            let grammar = try await error(#"{"prompt": "x", "grammar": "root ::= \"a\" |\nfoo ::= [z-a]"}"#, path: "/v1/completions")
            #expect(grammar.status == 400 && grammar.param == "grammar")
            #expect(grammar.message.contains("grammar:2:"), "\(grammar.message)")
        }
    }
}
