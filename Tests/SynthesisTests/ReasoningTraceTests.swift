import Foundation
import LanguageModels
import Testing
@testable import Synthesis

/// The trace stage keeps the teacher's own reasoning only when its own
/// verdict agrees with the confirmed label, and never tells it the label.
@Suite struct ReasoningTraceTests {
    /// A teacher with a fixed opinion, recording what it was shown.
    final class Teacher: LanguageModel, @unchecked Sendable {
        let says: Bool
        private let lock = NSLock()
        private var _prompts: [String] = []
        init(says: Bool) { self.says = says }
        var prompts: [String] { lock.withLock { _prompts } }
        var identifier: String { "teacher" }
        func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] {
            candidates.map { _ in nil }
        }
        func generate(_ request: GenerationRequest) async throws -> String {
            lock.withLock { _prompts.append(request.messages.map(\.content).joined(separator: "\n")) }
            return #"{"reasoning": "The query needs a cause; the passage gives one.", "relevant": \#(says)}"#
        }
        func truncate(_ text: String, maxTokens: Int) async throws -> String { text }
    }

    static let query = try! JSONDecoder().decode(QueryAnswer.self, from: Data(#"{"query": "why does bread collapse", "instruction": ""}"#.utf8))

    @Test func agreeingTraceIsKeptAndTheLabelIsNeverShown() async throws {
        let teacher = Teacher(says: true)
        var context = ItemContext(index: 0, settings: SynthesisConfiguration(), prompts: .builtIn)
        let trace = try await ReasoningTraceStage(model: teacher).run(
            query: Self.query, passage: "Overproofing exhausts sugars.", relevant: true, context: &context)
        #expect(trace == "The query needs a cause; the passage gives one.")
        #expect(teacher.prompts.count == 1)
        #expect(teacher.prompts.allSatisfy { !$0.contains("Judgement") && $0.contains("Overproofing exhausts sugars.") })
    }

    @Test func disagreeingTeacherRejectsTheItem() async throws {
        let teacher = Teacher(says: true)
        var settings = SynthesisConfiguration()
        settings.maxReasks = 2
        var context = ItemContext(index: 0, settings: settings, prompts: .builtIn)
        do {
            _ = try await ReasoningTraceStage(model: teacher).run(
                query: Self.query, passage: "Bread has a long history.", relevant: false, context: &context)
            Issue.record("a trace that never agrees with the label must not be kept")
        } catch SynthesisError.malformedOutput(let stage, let attempts, let reason) {
            #expect(stage == ReasoningTraceStage.name && attempts == 3)
            #expect(reason.contains("never agreed"))
        }
        // Each try is a fresh sample (a new seed), not a re-ask that shows the label.
        #expect(teacher.prompts.count == 3)
    }
}
