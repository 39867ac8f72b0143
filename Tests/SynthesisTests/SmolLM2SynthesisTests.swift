import Foundation
import Testing
import LanguageModels
import TestSupport
@testable import Synthesis

/// The pipeline on the real native engine. A 135M model seldom gets every
/// stage right, so what is asserted is the pipeline's contract: it finishes,
/// every item is accounted for exactly once, and what it accepts is well formed.
///
/// Runs wherever the SmolLM2 asset is installed: the test build is optimised
/// and one item costs a few hundred generated tokens (seconds at ~30 tokens/s;
/// an unoptimised build once took 15 minutes for it).
@Suite struct SmolLM2SynthesisTests {
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)), .timeLimit(.minutes(10)))
    func endToEndOnNativeSmolLM2() async throws {
        let model = try NativeLanguageModel(gguf: Assets.smollm2GGUF)
        // Small: one item, short answers, no re-asks. With so few tokens the model may well fail the
        // JSON; then the item must be recorded as rejected, with its reason.
        var settings = SynthesisConfiguration()
        settings.target = 1
        settings.oversample = 1
        settings.maxItems = 1
        settings.concurrency = 1
        settings.seed = 3
        settings.judgeSamples = 1
        settings.negativesPerQuery = 1
        settings.maxReasks = 0
        settings.instructionRate = 0
        settings.maxTokens.query = 48
        settings.maxTokens.passages = 96
        settings.maxTokens.judge = 24
        settings.language = "any"
        settings.queryWords = .init(min: 1, max: 200)
        settings.passageWords = .init(min: 1, max: 400)
        settings.negativeMinOverlap = 0
        settings.restatementThreshold = 1
        settings.maxConsecutiveMalformed = 2
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-smollm2-\(UUID().uuidString)")
        let stats = try await SynthesisPipeline(generator: model, settings: settings).run(outputDirectory: dir)
        #expect(stats.generatorModel == model.identifier)
        #expect(stats.usage.requests >= stats.itemsAttempted)
        // The native engine counts its tokens exactly.
        #expect(stats.usage.countedRequests == stats.usage.requests && stats.usage.promptTokens > 0 && stats.usage.completionTokens > 0)
        let pool = try SynthesisStore(directory: dir).readLines(SyntheticExample.self, from: dir.appendingPathComponent("pool.jsonl"))
        let rejected = try SynthesisStore(directory: dir).readLines(RejectedItem.self, from: dir.appendingPathComponent("rejected.jsonl"))
            .filter { $0.stage != "dedup" && $0.stage != "selection" }
        let indices = pool.map(\.index) + rejected.map(\.index)
        #expect(indices.sorted() == Array(0..<stats.itemsAttempted))
        #expect(rejected.allSatisfy { !$0.code.isEmpty && !$0.reason.isEmpty })
        for example in pool {
            #expect(!example.query.isEmpty && !example.positives.isEmpty && !example.negatives.isEmpty)
            #expect(example.positives.allSatisfy { $0.votes == [true] })
            #expect(example.negatives.allSatisfy { $0.votes == [false] })
        }
        print("smollm2 synthesis: items \(stats.itemsAttempted), accepted \(pool.count), rejected \(stats.rejectedByCode), requests \(stats.usage.requests), re-asks \(stats.usage.reasks)")
    }
}
