import Foundation
import Testing
import Tensor
import TestSupport
@testable import Models

/// Parity of the tiny random Qwen2 / Qwen3 decoders against transformers
/// (fixtures from Scripts/fixtures/tiny_qwen.py): logits of every position,
/// attention probabilities of every layer, and the KV-cache path agreeing
/// with the one-batch path.
@Suite struct QwenTests {
    /// Largest |logit - reference| allowed (f32 on both sides).
    static let logitTolerance: Float = 1e-4
    /// Largest |attention probability - reference| allowed.
    static let attentionTolerance: Float = 1e-5

    struct Reference: Decodable {
        struct Sequence: Decodable {
            var ids: [Int]
            var logits: [[Float]]  // (tokens, vocab)
            var attentions: [[[[Float]]]]  // (layers, heads, tokens, tokens)
        }
        var sequences: [Sequence]
    }

    static func fixture(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Data(contentsOf: fixture(name).appendingPathComponent("reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    static func checkParity(_ model: LlamaModel, _ ref: Reference) throws {
        let layers = Set(0..<model.configuration.numHiddenLayers)
        for seq in ref.sequences {
            let out = try model.forward(seq.ids, logits: .all, returnAttentions: layers)
            #expect(out.rows == seq.ids.count)
            let logitDiff = maxDifference(out.logits, seq.logits.flatMap { $0 })
            #expect(logitDiff <= logitTolerance, "logits differ by \(logitDiff) on \(seq.ids)")
            for l in layers {
                let expected = seq.attentions[l].flatMap { $0.flatMap { $0 } }
                let got = try #require(out.attentions[l])
                let d = maxDifference(got, expected)
                #expect(d <= attentionTolerance, "layer \(l) attention differs by \(d)")
            }
        }
    }

    @Test func qwen2MatchesTransformers() throws {
        let model = try LlamaModel(qwen2: Self.fixture("tiny-qwen2"))
        #expect(model.layers[0].queryBias != nil)
        #expect(model.outputHead.storage !== model.embeddings.storage)  // untied
        try Self.checkParity(model, try Self.reference("tiny-qwen2"))
    }

    @Test func qwen3MatchesTransformers() throws {
        let model = try LlamaModel(qwen3: Self.fixture("tiny-qwen3"))
        #expect(model.layers[0].queryNorm != nil)
        #expect(model.outputHead.storage === model.embeddings.storage)  // tied
        try Self.checkParity(model, try Self.reference("tiny-qwen3"))
    }

    /// Prefill then one-token steps through the cache give the same logits
    /// as running the whole sequence at once.
    @Test func cachedStepsMatchOneBatch() throws {
        let model = try LlamaModel(qwen3: Self.fixture("tiny-qwen3"))
        let ref = try Self.reference("tiny-qwen3").sequences[2]
        var cache = model.makeCache(capacity: ref.ids.count)
        var rows = [Float]()
        let first = try model.forward(Array(ref.ids[0..<5]), cache: &cache, logits: .all)
        rows += first.logits
        for id in ref.ids[5...] {
            let step = try model.forward([id], cache: &cache, logits: .last)
            #expect(step.offset == cache.count - 1)
            rows += step.logits
        }
        let d = Self.maxDifference(rows, ref.logits.flatMap { $0 })
        #expect(d <= Self.logitTolerance, "cached logits differ by \(d)")
    }

    /// Prefill in slices of 3 and 4 tokens gives the last logits of one batch.
    @Test func chunkedPrefillMatchesOneBatch() throws {
        let model = try LlamaModel(qwen2: Self.fixture("tiny-qwen2"))
        let ref = try Self.reference("tiny-qwen2").sequences[2]
        for chunk in [3, 4, 1000] {
            var cache = model.makeCache(capacity: ref.ids.count)
            let last = try model.prefill(ref.ids, cache: &cache, chunk: chunk)
            #expect(cache.count == ref.ids.count)
            let d = Self.maxDifference(last, ref.logits.last!)
            #expect(d <= Self.logitTolerance, "chunk \(chunk): last logits differ by \(d)")
        }
    }

    /// A copied cache is a value: stepping one copy, or the original after
    /// the copy, leaves the others' positions as they were (both precisions).
    @Test(arguments: KVCache.Precision.allCases)
    func cacheCopiesAreIndependent(precision: KVCache.Precision) throws {
        var model = try LlamaModel(qwen2: Self.fixture("tiny-qwen2"))
        model.kvCachePrecision = precision
        let ids = try Self.reference("tiny-qwen2").sequences[2].ids
        var base = model.makeCache(capacity: ids.count)
        _ = try model.prefill(Array(ids[0..<5]), cache: &base)
        let snapshot = base
        var a = base
        let first = try model.forward([ids[5]], cache: &a).logits
        _ = try model.forward([ids[6]], cache: &base)  // writes position 5 of the original
        var b = snapshot
        let again = try model.forward([ids[5]], cache: &b).logits
        #expect(first == again)
        #expect(snapshot.count == 5 && a.count == 6 && base.count == 6)
        // The prefix of a stepped cache drops what followed.
        var cut = try #require(base.prefix(5, capacity: ids.count))
        #expect(try model.forward([ids[5]], cache: &cut).logits == first)
    }

    /// Prompt rows give the same logits, bit for bit, whether the attention
    /// probabilities of every head are kept (returned) or computed a head at a
    /// time in one reused buffer.
    @Test func logitsDoNotDependOnReturningAttentions() throws {
        let model = try LlamaModel(qwen3: Self.fixture("tiny-qwen3"))
        let ids = try Self.reference("tiny-qwen3").sequences[2].ids
        let plain = try model.forward(ids, logits: .all)
        let withAttentions = try model.forward(ids, logits: .all, returnAttentions: [0, 1])
        #expect(plain.logits == withAttentions.logits)
        #expect(plain.attentions.isEmpty && withAttentions.attentions.count == 2)
    }

    @Test func registryLoadsBothByModelType() throws {
        for name in ["tiny-qwen2", "tiny-qwen3"] {
            let loaded = try ModelRegistry.load(Self.fixture(name))
            let model = try #require(loaded as? LlamaModel)
            #expect(model.options.architecture == String(name.dropFirst(5)))
        }
    }

    @Test func badInputsThrowClearErrors() throws {
        let model = try LlamaModel(qwen2: Self.fixture("tiny-qwen2"))
        #expect(throws: ModelsError.invalidInput("no tokens to run")) { try model.forward([]) }
        #expect(throws: ModelsError.self) { try model.forward([256]) }
        #expect(throws: ModelsError.sequenceTooLong(length: 129, maximum: 128)) {
            try model.forward([Int](repeating: 1, count: 129))
        }
        #expect(throws: ModelsError.self) { try model.forward([1, 2], returnAttentions: [2]) }
        var cache = model.makeCache(capacity: 2)
        _ = try model.forward([1, 2], cache: &cache)
        #expect(throws: ModelsError.self) { try model.forward([3], cache: &cache) }
    }

    @Test func unknownOrUnsupportedConfigurationsAreRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try String(contentsOf: Self.fixture("tiny-qwen2").appendingPathComponent("config.json"), encoding: .utf8)
        try config.replacingOccurrences(of: "\"use_sliding_window\": false", with: "\"use_sliding_window\": true")
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        #expect(throws: ModelsError.unsupported(key: "use_sliding_window", value: "true",
                                                file: dir.appendingPathComponent("config.json").path)) {
            try LlamaModel(qwen2: dir)
        }
        // A directory whose weights lack a tensor names it.
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        #expect(throws: ModelsError.self) { try LlamaModel(qwen2: dir) }
    }
}
