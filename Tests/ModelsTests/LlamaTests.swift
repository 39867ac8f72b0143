import Foundation
import Testing
import Tensor
import TestSupport
import Tokenizers
@testable import Models

/// SmolLM2-135M-Instruct (the shipped Q4_1 GGUF) against transformers loading
/// the same file dequantised to f32 (Scripts/fixtures/smollm2_logits.py).
@Suite struct LlamaTests {
    /// Largest |logit - reference| allowed on the compared logits.
    static let logitTolerance: Float = 1e-3
    /// Summary statistics of the whole vector (mean, std) are compared this closely.
    static let statisticTolerance: Double = 1e-3

    struct Reference: Decodable {
        struct Prompt: Decodable {
            var text: String
            var ids: [Int]
            var top_ids: [Int]
            var top_logits: [Float]
            var mean: Double
            var std: Double
            var min: Float
            var max: Float
            var greedy: [Int]
            var full_logits_index: Int?
        }
        var vocab_size: Int
        var greedy_tokens: Int
        var prompts: [Prompt]
    }

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: fixtures.appendingPathComponent("smollm2_logits.json")))
    }

    /// Prompt `index`'s whole logit vector from smollm2_full_logits.u16
    /// (Scripts/fixtures/smollm2_full_logits.py: every prompt, 16-bit fixed
    /// point over the vector's range), and the most its decoding can be off.
    static func fullLogits(_ index: Int, vocab: Int, prompts: Int) throws -> (values: [Float], quantisation: Float) {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("smollm2_full_logits.u16"))
        let record = 8 + 2 * vocab
        try #require(data.count == prompts * record, "smollm2_full_logits.u16: \(data.count) bytes, expected \(prompts) x \(record)")
        return data.withUnsafeBytes { raw in
            let base = index * record
            let low = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base, as: UInt32.self)))
            let step = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 4, as: UInt32.self)))
            let values = (0..<vocab).map { i -> Float in
                low + Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 8 + 2 * i, as: UInt16.self))) * step
            }
            // Half a step, plus float32 rounding of the decode itself.
            return (values, step / 2 + 1e-5)
        }
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func ggufMetadataBecomesTheConfiguration() throws {
        let model = try LlamaModel(gguf: Assets.smollm2GGUF)
        let c = model.configuration
        #expect(c.numHiddenLayers == 30 && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.numAttentionHeads == 9 && c.numKeyValueHeads == 3 && c.headDim == 64)
        #expect(c.vocabSize == 49152 && c.maxPositionEmbeddings == 8192 && c.ropeTheta == 100_000)
        #expect(c.tieWordEmbeddings)
        #expect("\(model.options.ropeLayout)" == "interleaved")
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func nextTokenLogitsMatchTransformers() throws {
        let model = try LlamaModel(gguf: Assets.smollm2GGUF)
        let ref = try Self.reference()
        var worst: Float = 0
        var worstFull: Float = 0
        for (index, p) in ref.prompts.enumerated() {
            let logits = try model.forward(p.ids, logits: .last).logits
            #expect(logits.count == ref.vocab_size)
            for (id, expected) in zip(p.top_ids, p.top_logits) {
                worst = max(worst, abs(logits[id] - expected))
            }
            let n = Double(logits.count)
            let mean = logits.reduce(0.0) { $0 + Double($1) } / n
            let std = (logits.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
            #expect(abs(mean - p.mean) <= Self.statisticTolerance, "\(p.text): mean \(mean) vs \(p.mean)")
            #expect(abs(std - p.std) <= Self.statisticTolerance, "\(p.text): std \(std) vs \(p.std)")
            #expect(abs((logits.min() ?? 0) - p.min) <= Self.logitTolerance)
            #expect(logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) } == p.top_ids[0])
            // The whole vector, on every prompt: beyond the stored quantisation, the same bound.
            let full = try Self.fullLogits(index, vocab: ref.vocab_size, prompts: ref.prompts.count)
            let difference = zip(logits, full.values).map { abs($0 - $1) }.max() ?? .infinity
            worstFull = max(worstFull, difference - full.quantisation)
        }
        #expect(worst <= Self.logitTolerance, "max |logit difference| on the top-50 \(worst)")
        #expect(worstFull <= Self.logitTolerance, "max |logit difference| on whole vectors, beyond quantisation, \(worstFull)")
    }

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func greedyContinuationsMatchTransformers() throws {
        let model = try LlamaModel(gguf: Assets.smollm2GGUF)
        let tokenizer = try Tokenizer(gguf: Assets.smollm2GGUF)
        let generator = TextGenerator(model: model, tokenizer: tokenizer, endOfSequenceIDs: [], identifier: "smollm2")
        let ref = try Self.reference()
        for p in ref.prompts {
            let out = try generator.generate(
                tokens: p.ids, parameters: GenerationParameters(maxTokens: ref.greedy_tokens, stopAtEndOfSequence: false))
            #expect(out.tokens == p.greedy, "\(p.text)")
        }
    }

    /// The GGUF's own tokenizer gives the ids transformers gave (the fixture's).
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func ggufTokenizerMatchesTheFixtureIDs() throws {
        let tokenizer = try Tokenizer(gguf: Assets.smollm2GGUF)
        for p in try Self.reference().prompts {
            #expect(tokenizer.tokenize(p.text) == p.ids, "\(p.text)")
        }
    }

    /// Rotating the GGUF's permuted Q/K with HF's rotate_half layout is wrong:
    /// the interleaved layout is what makes the logits match.
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func halvesLayoutOnPermutedWeightsDiverges() throws {
        var model = try LlamaModel(gguf: Assets.smollm2GGUF)
        let p = try Self.reference().prompts[0]
        model.options.ropeLayout = .neox
        let logits = try model.forward(p.ids, logits: .last).logits
        let diff = zip(p.top_ids, p.top_logits).map { abs(logits[$0] - $1) }.max() ?? 0
        #expect(diff > 100 * Self.logitTolerance)
    }
}

/// A damaged GGUF's layer count: the fuzzer's Gemma 3 file with block_count
/// = 2,016,822,975 aborted allocating ~984 GB of layers up front.
@Suite struct GGUFLayerCountTests {
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func aBlockCountPastTheTensorsIsRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: Assets.smollm2GGUF))
        let key = Array("llama.block_count".utf8)
        // The key, then its u32 type (4) and the u32 value.
        guard let at = (0..<(bytes.count - key.count)).first(where: { bytes[$0..<($0 + key.count)].elementsEqual(key) }) else {
            Issue.record("llama.block_count not found"); return
        }
        let value = at + key.count + 4
        #expect(bytes[(at + key.count)..<value].elementsEqual([4, 0, 0, 0]))
        for (i, b) in withUnsafeBytes(of: UInt32(2_016_822_975).littleEndian, Array.init).enumerated() { bytes[value + i] = b }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-blocks-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: ModelsError.invalidConfiguration(file: url.path, reason: "llama.block_count is 2016822975 but the file holds 272 tensors")) {
            try LlamaModel(gguf: url)
        }
    }
}
