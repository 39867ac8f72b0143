import Randomness
import Datasets
import Foundation
import Models
import Testing
import Reranking
@testable import Synthesis

@Suite struct ConfigAndPromptTests {
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("synth-config-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url
    }

    func configError(_ text: String) throws -> SynthesisError? {
        do { _ = try SynthesisConfiguration.load(try write(text)); return nil } catch let e as SynthesisError { return e }
    }

    @Test func errorsNameTheField() throws {
        guard case .invalidConfig(_, let f1, _) = try configError(#"{"target": "ten"}"#) else { Issue.record("no error"); return }
        #expect(f1 == "target")
        guard case .invalidConfig(_, let f2, let r2) = try configError(#"{"judge_sample": 3}"#) else { Issue.record("no error"); return }
        #expect(f2 == "judge_sample" && r2.contains("unknown key"))
        guard case .invalidConfig(_, let f3, _) = try configError(#"{"max_tokens": {"judge": -1}}"#) else { Issue.record("no error"); return }
        #expect(f3 == "max_tokens")
        guard case .invalidConfig(_, let f4, _) = try configError(#"{"backend": {"model": "x"}}"#) else { Issue.record("no error"); return }
        #expect(f4 == "backend.kind")
        guard case .invalidConfig(_, let f5, _) = try configError(#"{"min_negatives": 5}"#) else { Issue.record("no error"); return }
        #expect(f5 == "min_negatives")
        guard case .invalidConfig(_, let f6, let r6) = try configError("{target: 3") else { Issue.record("no error"); return }
        #expect(f6 == "" && r6.hasPrefix("not valid JSON"))
        #expect(throws: SynthesisError.self) { try SynthesisConfiguration.load(URL(fileURLWithPath: "/nonexistent/config.json")) }
        let judged = try SynthesisConfiguration.load(try write(#"{"backend": {"kind": "openai", "model": "big", "base_url": "http://localhost:8000/v1"}, "judge_backend": {"kind": "native", "model": "smollm2"}}"#))
        #expect(judged.backend == .init(kind: "openai", model: "big", baseURL: "http://localhost:8000/v1"))
        #expect(judged.judgeBackend == .init(kind: "native", model: "smollm2"))
        #expect(judged.embedder == "hashing")
        #expect(try SynthesisConfiguration.load(try write(#"{"embedder": "minilm"}"#)).embedder == "minilm")
    }

    @Test func builtInSeedsHaveRealVariety() {
        let seeds = SeedSet.builtIn
        #expect(seeds.personas.count == 40 && Set(seeds.personas).count == 40)
        #expect(seeds.domains.count == 30 && Set(seeds.domains.map(\.name)).count == 30)
        #expect(seeds.domains.filter { $0.kind == .expert }.count == 15)
        // 30 consecutive items use 30 different domains.
        let used = (0..<30).map { i -> String in
            var rng = SplitMix64(seed: 5, item: i)
            return seeds.seed(forItem: i, runSeed: 5, instructionRate: 0.3, rng: &rng).domain
        }
        #expect(Set(used).count == 30)
    }

    @Test func promptsRoundTripThroughTheirFileForm() throws {
        for template in SynthesisPrompts.builtIn.all {
            let parsed = try SynthesisPrompts.parse(SynthesisPrompts.serialize(template), file: "t",
                                                    required: PromptTemplate.placeholders(in: template.system + template.user))
            #expect(parsed == template)
        }
    }

    @Test func badOverridesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-prompts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("id: relevance-judge\nversion: 2\n=== user\nQuery: {query}\nPassage: {passage}\n".utf8)
            .write(to: dir.appendingPathComponent("relevance-judge.txt"))
        #expect(throws: SynthesisError.self) { try SynthesisPrompts.load(overridesIn: dir) }  // {instruction} missing
        try FileManager.default.removeItem(at: dir.appendingPathComponent("relevance-judge.txt"))
        try Data("id: relevance-judje\nversion: 2\n=== user\nx\n".utf8).write(to: dir.appendingPathComponent("relevance-judje.txt"))
        #expect(throws: SynthesisError.self) { try SynthesisPrompts.load(overridesIn: dir) }  // unknown id
    }
}
