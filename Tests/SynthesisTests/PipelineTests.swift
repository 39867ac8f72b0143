import Foundation
import Testing
import LanguageModels
import Reranking
@testable import Synthesis

/// Fails every request after the first `budget` ones, as a server going away would.
struct DyingModel: LanguageModel {
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var calls = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; calls += 1; return calls }
    }
    var inner: ScriptedLanguageModel
    var budget: Int
    let counter = Counter()
    var identifier: String { inner.identifier }
    struct Gone: Error, CustomStringConvertible { var description: String { "connection refused" } }
    func generate(_ request: GenerationRequest) async throws -> String {
        if counter.next() > budget { throw Gone() }
        return try await inner.generate(request)
    }
    func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] { [] }
    func truncate(_ text: String, maxTokens: Int) async throws -> String { text }
}

/// Fails each distinct request the first time it sees it, then answers: a
/// transient fault on every call.
actor FlakyModel: LanguageModel {
    let inner: ScriptedLanguageModel
    var seen = Set<GenerationRequest>()
    init(inner: ScriptedLanguageModel) { self.inner = inner }
    nonisolated var identifier: String { inner.identifier }
    struct Transient: Error {}
    func generate(_ request: GenerationRequest) async throws -> String {
        if seen.insert(request).inserted { throw Transient() }
        return try await inner.generate(request)
    }
    nonisolated func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] { [] }
    nonisolated func truncate(_ text: String, maxTokens: Int) async throws -> String { text }
}

@Suite struct PipelineTests {
    static func settings(target: Int = 8, concurrency: Int = 3, seed: UInt64 = 11) -> SynthesisConfiguration {
        var s = SynthesisConfiguration()
        s.target = target
        s.concurrency = concurrency
        s.seed = seed
        s.oversample = 1.5
        s.judgeSamples = 3
        s.backoffBaseSeconds = 0
        return s
    }

    static let model = ScriptedLanguageModel(garbageRate: 0.15, judgeNoise: 0.05)

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID().uuidString)")
    }

    /// Examples without their timestamps, for comparing runs.
    func content(_ dir: URL) throws -> [String] {
        try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl")).map {
            var e = $0
            e.createdAt = ""
            return String(decoding: try SynthesisStore.encoder().encode(e), as: UTF8.self)
        }
    }

    @Test func endToEndWithScriptedModel() async throws {
        let dir = temporaryDirectory()
        let settings = Self.settings()
        let stats = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: dir)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl"))
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: dir.appendingPathComponent("rejected.jsonl"))
        #expect(examples.count == 8)
        #expect(stats.selected == 8 && stats.shortfall == 0 && stats.poolAccepted == settings.poolTarget)
        #expect(Set(examples.map(\.id)).count == 8)
        #expect(examples.map(\.index) == examples.map(\.index).sorted())
        for example in examples {
            #expect(!example.query.isEmpty)
            #expect(example.positives.count == 1)
            #expect(example.positives.allSatisfy { $0.votes == [true, true, true] })
            #expect(example.negatives.count >= 1 && example.negatives.count <= 3)
            #expect(example.negatives.allSatisfy { $0.votes == [false, false, false] })
            #expect(example.generatorModel == "scripted" && example.judgeModel == "scripted")
            #expect(example.promptVersions == SynthesisPrompts.builtIn.versions)
            #expect(example.usage.requests >= 3 + 3 * (1 + example.negatives.count))
            #expect(example.seed.wantsInstruction == !example.instruction.isEmpty)
        }
        // Domains are covered before any repeats.
        #expect(Set(examples.map(\.seed.domain)).count == 8)
        // Garbage answers were re-asked; judge noise and exhausted re-asks were recorded.
        #expect(stats.usage.reasks > 0)
        let cutoff = try #require(stats.poolCutoffIndex)
        #expect(stats.rejectedByCode.values.reduce(0, +) == rejected.filter { $0.index <= cutoff || $0.stage == "dedup" || $0.stage == "selection" }.count)
        #expect(rejected.allSatisfy { !$0.reason.isEmpty && !$0.code.isEmpty })
        #expect(rejected.filter { $0.code == "not-selected" }.count + rejected.filter { $0.stage == "dedup" }.count == stats.poolAccepted - 8)
        // Every attempted item is accounted for exactly once in pool or generation rejections.
        let pool = try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("pool.jsonl"))
        let generationRejects = rejected.filter { $0.stage != "dedup" && $0.stage != "selection" }
        let indices = pool.map(\.index) + generationRejects.map(\.index)
        #expect(indices.count == Set(indices).count)
        #expect(Set(indices) == Set(0..<stats.itemsAttempted))
        // A second run on the finished directory changes nothing.
        let again = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: dir)
        #expect(again == stats)
    }

    @Test func deterministicAcrossConcurrencyAndTransientFaults() async throws {
        let a = temporaryDirectory(), b = temporaryDirectory(), c = temporaryDirectory()
        let statsA = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(concurrency: 1)).run(outputDirectory: a)
        let statsB = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(concurrency: 5)).run(outputDirectory: b)
        #expect(statsA.rejectedByCode == statsB.rejectedByCode && statsA.poolCutoffIndex == statsB.poolCutoffIndex)
        #expect(statsA.selectedByDomain == statsB.selectedByDomain)
        let flaky = FlakyModel(inner: Self.model)
        let stats = try await SynthesisPipeline(generator: flaky, settings: Self.settings(concurrency: 4)).run(outputDirectory: c)
        #expect(try content(a) == content(b))
        // Retried requests do not shift any seed, so the output is the same
        // (only the usage counters, which include the retries, differ).
        #expect(stats.usage.backendRetries == stats.usage.requests / 2)
        func withoutUsage(_ dir: URL) throws -> [String] {
            try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl")).map { "\($0.id)|\($0.query)|\($0.positives)|\($0.negatives)" }
        }
        #expect(try withoutUsage(a) == withoutUsage(c))
        let other = temporaryDirectory()
        _ = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(seed: 12)).run(outputDirectory: other)
        #expect(try content(a) != content(other))
    }

    @Test func resumesAfterTheBackendDiesWithoutLossOrDuplicates() async throws {
        let clean = temporaryDirectory(), broken = temporaryDirectory()
        var settings = Self.settings(concurrency: 3)
        settings.backendRetries = 1
        _ = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: clean)

        let dying = DyingModel(inner: Self.model, budget: 60)
        await #expect(throws: SynthesisError.self) {
            _ = try await SynthesisPipeline(generator: dying, settings: settings).run(outputDirectory: broken)
        }
        let store = try SynthesisStore(directory: broken)
        let checkpoint = try #require(try store.loadCheckpoint())
        #expect(!checkpoint.completed.isEmpty && !checkpoint.finalized)
        // A torn line, as a kill in the middle of a write leaves.
        let handle = try FileHandle(forWritingTo: store.pool)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"id": "syn0000"#.utf8))
        try handle.close()

        _ = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: broken)
        #expect(try content(clean) == content(broken))
        let pool = try SynthesisStore.readJSONLines(SyntheticExample.self, from: store.pool)
        #expect(pool.count == Set(pool.map(\.index)).count)
    }

    @Test func settingsMismatchIsRefused() async throws {
        let dir = temporaryDirectory()
        _ = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(target: 3)).run(outputDirectory: dir)
        await #expect(throws: SynthesisError.self) {
            _ = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(target: 3, seed: 99)).run(outputDirectory: dir)
        }
        // Concurrency is not part of the fingerprint.
        _ = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(target: 3, concurrency: 1)).run(outputDirectory: dir)
    }

    @Test func garbageOnlyModelStopsWithAClearError() async throws {
        let dir = temporaryDirectory()
        var settings = Self.settings()
        settings.maxConsecutiveMalformed = 5
        settings.maxReasks = 1
        do {
            _ = try await SynthesisPipeline(generator: ScriptedLanguageModel(garbageRate: 1), settings: settings).run(outputDirectory: dir)
            Issue.record("expected an error")
        } catch let error as SynthesisError {
            guard case .modelNeverParseable(_, let n, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(n == 5)
        }
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: dir.appendingPathComponent("rejected.jsonl"))
        #expect(rejected.count == 5 && rejected.allSatisfy { $0.code == "malformed-output" && $0.usage.requests == 2 })
    }

    @Test func unreachableBackendStopsAfterRetries() async throws {
        let dir = temporaryDirectory()
        var settings = Self.settings()
        settings.backendRetries = 2
        do {
            _ = try await SynthesisPipeline(generator: DyingModel(inner: Self.model, budget: 0), settings: settings).run(outputDirectory: dir)
            Issue.record("expected an error")
        } catch let error as SynthesisError {
            guard case .backend(_, let stage, let attempts, let reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(stage == "query-generation" && attempts == 3 && reason == "connection refused")
        }
    }

    @Test func fullDiskKeepsWhatWasAccepted() async throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("rejected.jsonl").path, withDestinationPath: "/dev/full")
        do {
            _ = try await SynthesisPipeline(generator: Self.model, settings: Self.settings(concurrency: 1)).run(outputDirectory: dir)
            Issue.record("expected an error")
        } catch let error as SynthesisError {
            #expect(String(describing: error).contains("No space left on device"))
        }
        let store = try SynthesisStore(directory: dir)
        let checkpoint = try #require(try store.loadCheckpoint())
        let pool = try store.readLines(SyntheticExample.self, from: store.pool)
        #expect(Set(pool.map(\.index)) == Set(checkpoint.completed))
        #expect(!checkpoint.completed.isEmpty || pool.isEmpty)
    }

    @Test func unwritableDirectoryIsAClearError() {
        #expect(throws: SynthesisError.self) { _ = try SynthesisStore(directory: URL(fileURLWithPath: "/proc/limrank-synth")) }
    }

    @Test func reasoningTracesAndConfigFixture() async throws {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let config = try SynthesisConfiguration.load(fixtures.appendingPathComponent("config.json"))
        #expect(config.target == 6 && config.negativesPerQuery == 2 && config.maxTokens.judge == 128 && config.maxTokens.query == 256)
        #expect(config.backend?.kind == "scripted")
        let prompts = try SynthesisPrompts.load(overridesIn: config.promptsDirectory.map { URL(fileURLWithPath: $0) })
        #expect(prompts.relevanceJudge.version == 7 && prompts.relevanceJudge.system == "You are a strict relevance assessor (edited).")
        let seeds = try config.seedSet()
        #expect(seeds.personas.count == 3 && seeds.domains.map(\.kind) == [.everyday, .expert, .expert])
        var withTraces = config
        withTraces.reasoningTraces = true
        let dir = temporaryDirectory()
        let stats = try await SynthesisPipeline(generator: ScriptedLanguageModel(), settings: withTraces, prompts: prompts, seeds: seeds)
            .run(outputDirectory: dir)
        #expect(stats.promptVersions["relevance-judge"] == 7)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl"))
        #expect(!examples.isEmpty)
        #expect(examples.allSatisfy { ($0.positives + $0.negatives).allSatisfy { $0.reasoning?.isEmpty == false } })
        #expect(Set(examples.map(\.seed.domain)).isSubset(of: ["bicycle maintenance", "hydrology", "query optimisation in SQL databases"]))
        let pairs = try SyntheticDataExporter.pointwise(examples, withReasoning: true)
        #expect(pairs.allSatisfy { $0.answer.hasPrefix("\n") && ($0.answer.hasSuffix("\n</think> true") || $0.answer.hasSuffix("\n</think> false")) })
    }

    /// A kill can leave a low item unfinished while later ones were accepted
    /// and checkpointed; the resumed run must fill that gap, not stop because
    /// the pool already looks full.
    @Test func resumeFillsGapsBelowAcceptedItems() async throws {
        let clean = temporaryDirectory(), gapped = temporaryDirectory()
        let settings = Self.settings(target: 6, concurrency: 2)
        _ = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: clean)
        let source = try SynthesisStore(directory: clean)
        let full = try #require(try source.loadCheckpoint())
        let pool = try SynthesisStore.readJSONLines(SyntheticExample.self, from: source.pool)
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: source.rejected).filter { $0.stage != "dedup" && $0.stage != "selection" }
        let missing = try #require(pool.map(\.index).min())
        let target = try SynthesisStore(directory: gapped)
        var poolBytes: UInt64 = 0, rejectedBytes: UInt64 = 0
        let encoder = SynthesisStore.encoder()
        for example in pool where example.index != missing { poolBytes = try target.append(try encoder.encode(example), to: target.pool) }
        for item in rejected { rejectedBytes = try target.append(try encoder.encode(item), to: target.rejected) }
        let checkpoint = SynthesisCheckpoint(fingerprint: full.fingerprint, completed: full.completed.filter { $0 != missing },
                                             poolBytes: poolBytes, rejectedBytes: rejectedBytes, usage: SynthesisUsage(), finalized: false)
        try target.writeAtomically(try encoder.encode(checkpoint), to: target.checkpoint)
        _ = try await SynthesisPipeline(generator: Self.model, settings: settings).run(outputDirectory: gapped)
        #expect(try content(clean) == content(gapped))
    }

    /// A judge that calls everything relevant confirms the positives but
    /// drops every negative, so no item survives; its id is recorded.
    @Test func separateJudgeIsConsulted() async throws {
        struct YesJudge: LanguageModel {
            var identifier: String { "yes-judge" }
            func generate(_ request: GenerationRequest) async throws -> String { #"{"relevant": true, "reason": "looks fine"}"# }
            func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] { [] }
            func truncate(_ text: String, maxTokens: Int) async throws -> String { text }
        }
        var settings = Self.settings(target: 2)
        settings.maxItems = 4
        let dir = temporaryDirectory()
        let stats = try await SynthesisPipeline(generator: ScriptedLanguageModel(), judge: YesJudge(), settings: settings).run(outputDirectory: dir)
        #expect(stats.judgeModel == "yes-judge" && stats.generatorModel == "scripted")
        #expect(stats.selected == 0 && stats.shortfall == 2 && stats.itemsAttempted == 4)
        #expect(stats.rejectedByCode == ["too-few-negatives": 4])
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: dir.appendingPathComponent("rejected.jsonl"))
        #expect(rejected.allSatisfy { $0.judgeModel == "yes-judge" && $0.stage == "judge" })
    }
}
