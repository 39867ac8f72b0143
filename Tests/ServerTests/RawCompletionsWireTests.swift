import Foundation
import LanguageModels
import RemoteModels
import Testing

/// The raw-prompt client against answers shaped as vLLM writes them
/// (`stop_reason`, `echo` with `text_offset` and a null first log-probability).
@Suite struct RawCompletionsWireTests {
    static func model(_ server: FaultServer) throws -> OpenAICompatibleModel {
        try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: "http://127.0.0.1:\(server.port)/v1", model: "m", maxRetries: 0))
    }

    @Test func stopReasonTellsAStopStringFromEndOfSequence() async throws {
        let answers = [
            (#"{"choices":[{"index":0,"text":"why","finish_reason":"stop","stop_reason":"</think> true"}]}"#, true),
            (#"{"choices":[{"index":0,"text":"why","finish_reason":"stop","stop_reason":null}]}"#, false),
            (#"{"choices":[{"index":0,"text":"why","finish_reason":"stop","stop_reason":151643}]}"#, false),
            (#"{"choices":[{"index":0,"text":"why","finish_reason":"stop"}]}"#, true),
            (#"{"choices":[{"index":0,"text":"why","finish_reason":"length","stop_reason":null}]}"#, false),
        ]
        let server = try FaultServer(answers.map { .respond(status: 200, body: $0.0) })
        defer { server.stop() }
        let model = try Self.model(server)
        for (_, expected) in answers {
            let completion = try await model.complete(rawPrompt: "P\n<think>", maxTokens: 8, stop: ["</think> true", "</think> false"])
            #expect(completion.text == "why" && completion.stoppedOnString == expected)
        }
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("POST /v1/completions "))
        #expect(request.contains(#""prompt":"P\n<think>""#))
    }

    @Test func echoedAnswerIsSummedFromItsOwnTokens() async throws {
        // "P</think>" + " true": tokens "P", "</think>", " true", then one generated token.
        let body = #"{"choices":[{"index":0,"text":"P</think> true.","logprobs":{"tokens":["P","</think>"," true","."],"#
            + #""token_logprobs":[null,-1.5,-7.25,-0.5],"top_logprobs":[null,{"</think>":-1.5},{" true":-7.25},{".":-0.5}],"#
            + #""text_offset":[0,1,9,14]},"finish_reason":"length"}]}"#
        let merged = #"{"choices":[{"index":0,"text":"P</think> true.","logprobs":{"tokens":["P","</think> true","."],"#
            + #""token_logprobs":[null,-3.0,-0.5],"top_logprobs":[null,null,null],"text_offset":[0,1,14]},"finish_reason":"length"}]}"#
        let server = try FaultServer([.respond(status: 200, body: body), .respond(status: 200, body: merged)])
        defer { server.stop() }
        let model = try Self.model(server)
        #expect(try await model.continuationLogProbability(rawPrompt: "P</think>", continuation: " true") == -7.25)
        let request = try #require(server.requests.first)
        #expect(request.contains(#""echo":true"#))
        // JSONEncoder writes "/" as "\/".
        #expect(request.contains(#""prompt":"P<\/think> true""#))
        // A tokenizer that merges the answer into the prompt's last token cannot say.
        await #expect(throws: LanguageModelError.self) {
            _ = try await model.continuationLogProbability(rawPrompt: "P</think>", continuation: " true")
        }
    }
}
