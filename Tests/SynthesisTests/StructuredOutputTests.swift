import Foundation
import Grammar
import LanguageModels
import Testing
@testable import Synthesis

/// The schemas the stages send compile under the native engine's JSON-schema
/// grammar, accept the answers ModelOutputParser decodes, and refuse the
/// shapes it cannot use.
@Suite struct StructuredOutputTests {
    func matcher(_ output: StructuredOutput) throws -> GrammarMatcher {
        GrammarMatcher(try output.responseFormat.compile())
    }

    @Test func queryAndJudgeSchemas() throws {
        let query = try matcher(.query(wantsInstruction: false))
        let good = #"{"query": "Why does my wing shake at speed?", "instruction": ""}"#
        #expect(query.matches(good))
        #expect(ModelOutputParser.decode(QueryAnswer.self, from: good).map(\.query) == .success("Why does my wing shake at speed?"))
        #expect(!query.matches(#"{"query": ""}"#))
        #expect(!query.matches(#"{"answer": "x"}"#))
        #expect(!query.matches("{\"query\": \"" + String(repeating: "a", count: 401) + "\", \"instruction\": \"\"}"))
        let instructed = try matcher(.query(wantsInstruction: true))
        #expect(!instructed.matches(#"{"query": "q", "instruction": ""}"#))
        #expect(instructed.matches(#"{"query": "q", "instruction": "Only causes count."}"#))

        let judge = try matcher(.judge)
        let verdict = #"{"relevant": true, "reason": "It explains the cause."}"#
        #expect(judge.matches(verdict))
        #expect(ModelOutputParser.decode(JudgeAnswer.self, from: verdict).map(\.relevant) == .success(true))
        #expect(!judge.matches(#"{"relevant": "maybe", "reason": ""}"#))
    }

    @Test func passageSchemasFixTheCount() throws {
        let negatives = try matcher(.passages(key: "negatives", count: 2))
        #expect(negatives.matches(#"{"negatives": ["one passage", "another one"]}"#))
        #expect(!negatives.matches(#"{"negatives": ["only one"]}"#))
        #expect(try matcher(.reasoning).matches(#"{"reasoning": "Because the passage names the mechanism."}"#))
    }

    @Test func requestsCarryTheSchema() async throws {
        // The item context attaches the stage's format to every request it sends.
        actor Recorder: LanguageModel {
            var formats: [ResponseFormat?] = []
            nonisolated var identifier: String { "recorder" }
            func generate(_ request: GenerationRequest) async throws -> String {
                formats.append(request.responseFormat)
                return #"{"relevant": false, "reason": "no"}"#
            }
            nonisolated func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] { [] }
            nonisolated func truncate(_ text: String, maxTokens: Int) async throws -> String { text }
        }
        let recorder = Recorder()
        var settings = SynthesisConfiguration()
        settings.judgeSamples = 2
        var context = ItemContext(index: 0, settings: settings, prompts: .builtIn)
        let votes = try await RelevanceJudgeStage(model: recorder).votes(query: try JSONDecoder().decode(QueryAnswer.self, from: Data(#"{"query": "q"}"#.utf8)), passage: "p", context: &context)
        #expect(votes == [false, false])
        #expect(await recorder.formats == [StructuredOutput.judge.responseFormat, StructuredOutput.judge.responseFormat])
    }
}
