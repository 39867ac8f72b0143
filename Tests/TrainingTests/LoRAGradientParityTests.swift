import Foundation
import ModelFormats
import Testing
import Tensor
@testable import Models
@testable import Training

/// LoRA SFT against PyTorch + PEFT on tiny random decoders (fixtures from
/// Scripts/fixtures/train_lora_reference.py): the loss of a fixed two-sequence
/// batch, every LoRA gradient, and PEFT's logits with the same adapter read
/// from PEFT's own files. Llama (tied embeddings, as SmolLM2), Qwen2
/// (q/k/v biases, untied head) and Gemma 3 (output norms, GeGLU, scaled
/// embedding, a sliding layer with a window of 4, query_pre_attn_scalar).
@Suite struct LoRAGradientParityTests {
    /// |loss − PyTorch's| allowed (the bound).
    static let lossTolerance: Double = 1e-4
    /// Smallest cosine between a LoRA gradient and PyTorch's (the bound).
    static let gradientCosine: Double = 0.999
    /// Largest ‖g − g_torch‖ / ‖g_torch‖ per matrix: tighter than the cosine,
    /// it also catches a wrong scale (f32 on both sides).
    static let gradientRelativeError: Double = 1e-3
    /// Largest |logit − PEFT's| with the adapter applied.
    static let logitTolerance: Float = 1e-4

    struct Reference: Decodable {
        var sequences: [[Int]]
        var masks: [[Int]]
        var rank: Int
        var alpha: Float
        var loss: Double
        var steps: Int
        var lr: Float
        var warmup_steps: Int
        var weight_decay: Float
        var step_losses: [Double]
        var peft_logits_sequence0: [[Float]]
    }

    static let models = ["tiny-llama", "tiny-qwen2", "tiny-gemma3"]

    static func fixture(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("lora").appendingPathComponent(name)
    }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: fixture(name).appendingPathComponent("reference.json")))
    }

    static func load(_ name: String) throws -> (LlamaModel, LoRAAdapter, Reference) {
        let base = fixture(name).appendingPathComponent("base")
        let model = try ModelRegistry.load(base) as! LlamaModel
        let adapter = try LoRAAdapter(directory: fixture(name).appendingPathComponent("adapter"), model: model.configuration)
        return (model, adapter, try reference(name))
    }

    static func batch(_ ref: Reference) -> [TrainingSequence] {
        zip(ref.sequences, ref.masks).map { TrainingSequence(tokens: $0, targets: $1.map { $0 != 0 }) }
    }

    /// NaN (which fails every comparison) when the lengths differ or there is nothing to compare.
    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .nan }
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            ab += Double(x) * Double(y)
            aa += Double(x) * Double(x)
            bb += Double(y) * Double(y)
        }
        return ab / max(1e-300, (aa * bb).squareRoot())
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .nan }
        var d = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            d += Double(x - y) * Double(x - y)
            bb += Double(y) * Double(y)
        }
        return (d / max(1e-300, bb)).squareRoot()
    }

    /// Loss and gradients of the whole batch, the mean over its target tokens.
    static func batchGradients(_ trainer: LlamaLoRATrainer, _ lora: LoRAParameters, _ batch: [TrainingSequence]) throws -> (Double, LoRAParameters) {
        let grads = lora.makeGradients()
        let count = batch.reduce(0) { $0 + $1.targetCount }
        var sum = 0.0
        for s in batch {
            sum += try trainer.accumulateGradients(s, lora: lora, lossScale: 1 / Float(count), into: grads).sum
        }
        return (sum / Double(count), grads)
    }

    /// `auto` keeps the tapes exactly while they fit the budget; the estimate
    /// is the size of the buffers a layer's tape really holds.
    @Test(arguments: models)
    func autoRecomputesOnlyAboveTheBudget(name: String) throws {
        let (model, adapter, _) = try Self.load(name)
        let weights = LlamaTrainingWeights(model: model)
        let trainer = LlamaLoRATrainer(weights: weights)
        let n = 40
        let lora = LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)
        let tape = trainer.forwardLayer(trainer.adaptedLayers(lora)[0], input: FloatBuffer(count: n * model.configuration.hiddenSize), n: n)
        let held = [tape.input, tape.h1, tape.q, tape.k, tape.v, tape.probabilities, tape.context, tape.middle, tape.h2,
                    tape.gate, tape.up, tape.act, tape.output].reduce(0) { $0 + $1.count }
            + (tape.qRaw?.count ?? 0) + (tape.kRaw?.count ?? 0) + (tape.attentionRaw?.count ?? 0) + (tape.mlpRaw?.count ?? 0)
        let bytes = trainer.activationBytes(tokens: n)
        #expect(bytes == 4 * held * model.configuration.numHiddenLayers)
        let tight = LlamaLoRATrainer(weights: weights, activationBudget: bytes)
        #expect(!tight.recomputes(tokens: n) && tight.recomputes(tokens: n + 1))
        #expect(!trainer.recomputes(tokens: n), "a tiny model's tapes fit the default budget")
        #expect(LlamaLoRATrainer(weights: weights, recompute: .always).recomputes(tokens: 1))
        #expect(!LlamaLoRATrainer(weights: weights, recompute: .never, activationBudget: 0).recomputes(tokens: 10_000))
    }

    @Test(arguments: models, [LlamaLoRATrainer.RecomputePolicy.always, .never])
    func lossAndGradientsMatchPyTorch(name: String, recompute: LlamaLoRATrainer.RecomputePolicy) throws {
        let (model, adapter, ref) = try Self.load(name)
        #expect(adapter.configuration.rank == ref.rank)
        #expect(adapter.configuration.alpha == ref.alpha)
        let trainer = LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model), recompute: recompute, logitChunk: 5)
        let lora = LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)
        let (loss, grads) = try Self.batchGradients(trainer, lora, Self.batch(ref))
        #expect(abs(loss - ref.loss) <= Self.lossTolerance, "\(name): loss \(loss) vs PyTorch \(ref.loss)")

        let expected = try SafeTensors(contentsOf: Self.fixture(name).appendingPathComponent("gradients.safetensors"))
        #expect(expected.names.count == grads.namedBuffers.count)
        for (key, buffer) in grads.namedBuffers {
            let torch = try expected.tensor(named: key).data
            let mine = buffer.array
            #expect(torch.count == mine.count, "\(key)")
            let cos = Self.cosine(mine, torch), rel = Self.relativeError(mine, torch)
            #expect(cos >= Self.gradientCosine, "\(name) \(key): cosine \(cos)")
            #expect(rel <= Self.gradientRelativeError, "\(name) \(key): relative error \(rel)")
        }
    }

    @Test(arguments: models)
    func logitsWithAdapterMatchPEFT(name: String) throws {
        let (model, adapter, ref) = try Self.load(name)
        let expected = ref.peft_logits_sequence0.flatMap { $0 }
        // Through the training forward pass...
        let trainer = LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model))
        let lora = LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)
        let train = try trainer.logits(ref.sequences[0], lora: lora)
        #expect(!expected.isEmpty && train.count == expected.count)
        #expect(zip(train, expected).map { abs($0 - $1) }.max()! <= Self.logitTolerance)
        // ... and through inference with the adapter merged.
        let merged = try model.merging(adapter)
        let inference = try merged.forward(ref.sequences[0], logits: .all).logits
        #expect(inference.count == expected.count)
        #expect(zip(inference, expected).map { abs($0 - $1) }.max()! <= Self.logitTolerance)
        // The adapter matters: without it the logits differ by much more.
        let plain = try model.forward(ref.sequences[0], logits: .all).logits
        #expect(plain.count == expected.count)
        #expect(zip(plain, expected).map { abs($0 - $1) }.max()! > 100 * Self.logitTolerance)
    }

    /// `train merge`'s checkpoint, loaded back as a directory model, gives
    /// PEFT's logits with the adapter: Gemma 3 included (its (1 + w) norms
    /// written as transformers stores them, w, and its config keys).
    @Test(arguments: models)
    func mergedCheckpointGivesPEFTLogits(name: String) throws {
        let (model, adapter, ref) = try Self.load(name)
        let expected = ref.peft_logits_sequence0.flatMap { $0 }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-merge-\(name)-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try LlamaTrainingWeights.writeMerged(LlamaTrainingWeights(model: model), adapter: adapter, to: dir)
        let merged = try #require(try ModelRegistry.load(dir) as? LlamaModel)
        #expect(merged.configuration.slidingLayers == model.configuration.slidingLayers)
        #expect(merged.configuration.slidingWindow == model.configuration.slidingWindow)
        let logits = try merged.forward(ref.sequences[0], logits: .all).logits
        #expect(!expected.isEmpty && logits.count == expected.count)
        #expect(zip(logits, expected).map { abs($0 - $1) }.max()! <= Self.logitTolerance)
    }

    /// Splitting the batch over two accumulation micro-batches (one sequence
    /// each, both scaled by the whole batch's target count) gives the same
    /// gradients as one pass; the loss head's chunking does not matter either.
    @Test func accumulationAndChunkingAreExact() throws {
        let (model, adapter, ref) = try Self.load("tiny-llama")
        let weights = LlamaTrainingWeights(model: model)
        let lora = LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)
        let batch = Self.batch(ref)
        let (_, whole) = try Self.batchGradients(LlamaLoRATrainer(weights: weights, logitChunk: 1000), lora, batch)
        let (_, chunked) = try Self.batchGradients(LlamaLoRATrainer(weights: weights, logitChunk: 3), lora, batch.reversed())
        #expect(!whole.namedBuffers.isEmpty && whole.namedBuffers.map(\.name) == chunked.namedBuffers.map(\.name))
        for ((key, a), (_, b)) in zip(whole.namedBuffers, chunked.namedBuffers) {
            #expect(Self.relativeError(b.array, a.array) <= 1e-5, "\(key)")
        }
    }
}
