import Foundation
import Testing
import Tensor
import TestSupport
@testable import Models

/// `LlamaModel.decodeStep` (several sequences, each with its own cache, one
/// new token each, one pass over the layers) gives every sequence exactly the
/// logits `forward([token], cache:)` gives it alone: compared bit for bit,
/// with prompts of different lengths and sequences joining and leaving.
@Suite struct BatchedDecodeTests {
    /// Sequences with their prompts, the step each joins at and how many
    /// tokens each decodes, run batched and alone side by side.
    static func checkAgainstAlone(_ model: LlamaModel, prompts: [[Int]], joins: [Int], lengths: [Int],
                                  sampleOf sample: ([Float]) -> Int) throws {
        struct Sequence { var batched: KVCache; var alone: KVCache; var next: Int; var left: Int }
        var live: [Int: Sequence] = [:]
        let steps = zip(joins, lengths).map { $0 + $1 }.max() ?? 0
        var batchedSizes: [Int] = []
        for step in 0...steps {
            for (i, prompt) in prompts.enumerated() where joins[i] == step {
                var cache = model.makeCache(capacity: prompt.count + lengths[i] + 1)
                let logits = try model.prefill(prompt, cache: &cache)
                live[i] = Sequence(batched: cache, alone: try #require(cache.prefix(cache.count, capacity: cache.capacity)),
                                   next: sample(logits), left: lengths[i])
            }
            let ids = live.keys.sorted().filter { live[$0]!.left > 0 }
            for id in live.keys where live[id]!.left == 0 { live[id] = nil }
            guard !ids.isEmpty else { continue }
            var caches = ids.map { live[$0]!.batched }
            for id in ids { live[id]!.batched = model.makeCache(capacity: 1) }  // the array holds the only reference
            let batched = try model.decodeStep(ids.map { live[$0]!.next }, caches: &caches)
            batchedSizes.append(ids.count)
            for (row, id) in ids.enumerated() {
                var s = live[id]!
                let alone = try model.forward([s.next], cache: &s.alone, logits: .last).logits
                #expect(batched[row].map(\.bitPattern) == alone.map(\.bitPattern),
                        "sequence \(id) at position \(s.alone.count - 1), batch of \(ids.count)")
                s.batched = caches[row]
                #expect(s.batched.count == s.alone.count)
                s.next = sample(alone)
                s.left -= 1
                live[id] = s
            }
        }
        #expect(batchedSizes.contains { $0 > 1 })
    }

    static func argmax(_ logits: [Float]) -> Int { logits.indices.max { logits[$0] < logits[$1] } ?? 0 }

    /// tiny-gemma3: window 4 on its sliding layers, so the longer prompts and
    /// decodes run past it (embedding scale, query_pre_attn_scalar, GeGLU, post-norms too).
    @Test(arguments: ["tiny-qwen2", "tiny-qwen3", "tiny-gemma3"])
    func tinyModelsDecodeBatchedAsAlone(fixture: String) throws {
        let url = QwenTests.fixture(fixture)
        let model = switch fixture {
        case "tiny-qwen2": try LlamaModel(qwen2: url)
        case "tiny-qwen3": try LlamaModel(qwen3: url)
        default: try LlamaModel(gemma3: url)
        }
        let vocabulary = model.vocabularySize
        let prompts = [[1, 2, 3], Array(5..<22), [7], Array(30..<40), [9, 9, 9, 9]].map { $0.map { $0 % vocabulary } }
        // Joining at steps 0, 0, 2, 5, 5; leaving after 8, 3, 6, 4, 1 tokens.
        try Self.checkAgainstAlone(model, prompts: prompts, joins: [0, 0, 2, 5, 5], lengths: [8, 3, 6, 4, 1],
                                   sampleOf: Self.argmax)
    }

    @Test func anF16CacheDecodesBatchedAsAlone() throws {
        var model = try LlamaModel(qwen2: QwenTests.fixture("tiny-qwen2"))
        model.kvCachePrecision = .float16
        try Self.checkAgainstAlone(model, prompts: [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]], joins: [0, 1, 1],
                                   lengths: [5, 4, 3], sampleOf: Self.argmax)
    }

    @Test func mismatchedInputsAreRefused() throws {
        let model = try LlamaModel(qwen2: QwenTests.fixture("tiny-qwen2"))
        var caches = [model.makeCache(capacity: 4)]
        #expect(throws: ModelsError.self) { try model.decodeStep([1, 2], caches: &caches) }
        #expect(throws: ModelsError.self) { try model.decodeStep([model.vocabularySize], caches: &caches) }
        var full = [model.makeCache(capacity: 0)]
        #expect(throws: ModelsError.self) { try model.decodeStep([1], caches: &full) }
    }

    /// SmolLM2's Q4_1 layers and Q8_0 head, through the interleaved kernels;
    /// with 8-bit activations up to six sequences share a step (a four-row
    /// tile of the byte kernels and two rows alone).
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)), arguments: [ActivationPrecision.float32, .int8])
    func smolLM2DecodesBatchedAsAlone(activations: ActivationPrecision) throws {
        var model = try LlamaModel(gguf: Assets.smollm2GGUF)
        model.decodeActivations = activations
        let prompts = [[1, 504, 3458, 314], Array(200..<231), [9690, 28, 2300], Array(1000..<1012), [5, 6], [700, 701, 702]]
        try Self.checkAgainstAlone(model, prompts: prompts, joins: [0, 0, 1, 1, 1, 1], lengths: [5, 3, 4, 4, 3, 2],
                                   sampleOf: Self.argmax)
    }

    /// Gemma 3 270M's Q4_K/Q6_K layers, its 512-position window passed by the long prompt.
    @Test(.enabled(if: Assets.enabled(Assets.gemma3GGUF)), arguments: [ActivationPrecision.float32, .int8])
    func gemma3DecodesBatchedAsAlone(activations: ActivationPrecision) throws {
        var model = try LlamaModel(gguf: Assets.gemma3GGUF)
        model.decodeActivations = activations
        let prompts = [[2, 818, 5279, 529], (0..<515).map { 1000 + $0 * 7 }, [2, 4521]]
        try Self.checkAgainstAlone(model, prompts: prompts, joins: [0, 0, 1], lengths: [3, 3, 2], sampleOf: Self.argmax)
    }
}
