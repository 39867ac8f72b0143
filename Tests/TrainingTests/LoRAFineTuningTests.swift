import Foundation
import ModelFormats
import Testing
import Tensor
@testable import Models
@testable import Training

/// The LoRA optimisation loop against PyTorch (fixtures from
/// Scripts/fixtures/train_lora_reference.py: torch.optim.AdamW with
/// transformers' cosine-with-warmup schedule, 20 steps on a fixed batch),
/// the PEFT adapter files limrank writes, and resume after a crash.
@Suite struct LoRAFineTuningTests {
    /// Largest |loss − PyTorch's| / PyTorch's over the 20 steps (the bound).
    static let stepLossRelative: Double = 1e-3
    /// Largest |w − PyTorch's| over the LoRA weights after the 20 steps, relative to max |w|.
    static let finalWeightRelative: Float = 1e-3

    @Test(arguments: LoRAGradientParityTests.models)
    func twentyAdamWStepsTrackPyTorch(name: String) throws {
        let (model, adapter, ref) = try LoRAGradientParityTests.load(name)
        var lora = LoRARecipe.Model(engine: LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model)),
                                    parameters: LoRAParameters(adapter, layers: model.configuration.numHiddenLayers))
        var optimizer = AdamW(configuration: AdamW.Configuration(weightDecay: ref.weight_decay))
        let schedule = try LearningRateSchedule(kind: .cosine, peak: ref.lr, warmupSteps: ref.warmup_steps, totalSteps: ref.steps)
        let batch = LoRAGradientParityTests.batch(ref)
        var losses: [Double] = []
        for step in 0..<ref.steps {
            losses.append(Double(try TrainingLoop.optimizerStep(
                &lora, examples: batch, step: step, optimizer: &optimizer,
                learningRate: schedule.learningRate(at: step), maxGradNorm: 0).loss))
        }
        // The loss must actually move, or tracking it proves nothing.
        #expect(ref.step_losses.first! - ref.step_losses.last! > 20 * Self.stepLossRelative * ref.step_losses.first!)
        for (i, (mine, torch)) in zip(losses, ref.step_losses).enumerated() {
            #expect(abs(mine - torch) / torch <= Self.stepLossRelative, "\(name) step \(i): \(mine) vs \(torch)")
        }
        let final = try SafeTensors(contentsOf: LoRAGradientParityTests.fixture(name).appendingPathComponent("final.safetensors"))
        for (key, buffer) in lora.parameters.namedBuffers {
            let torch = try final.tensor(named: key).data
            let scale = torch.map { abs($0) }.max()!
            let error = zip(buffer.array, torch).map { abs($0 - $1) }.max()!
            #expect(error <= Self.finalWeightRelative * scale, "\(name) \(key): max |Δ| \(error), max |w| \(scale)")
        }
    }

    /// Scripts/fixtures/train_lora_reference.py --clipped: the same 20 steps
    /// with clip_grad_norm_(max_norm=1.0), the gradient of 4 × the mean loss.
    struct Clipped: Decodable {
        var max_grad_norm: Float
        var loss_scale: Float
        var step_losses: [Double]
        var grad_norms: [Double]
    }

    /// A model whose gradient is `scale` × the inner one's (a power of two: exact).
    struct ScaledGradient<Inner: TrainableModel>: TrainableModel {
        var inner: Inner
        let scale: Float
        var parameterNames: [String] { inner.parameterNames }
        func parameterTensors() -> [String: Tensor] { inner.parameterTensors() }
        mutating func loadParameters(_ tensors: [String: Tensor], file: String) throws { try inner.loadParameters(tensors, file: file) }
        mutating func computeGradients(_ examples: [Inner.Example], step: Int) throws -> (loss: Float, tokens: Int) {
            let result = try inner.computeGradients(examples, step: step)
            let scale = self.scale
            inner.withUpdateBuffers { b in for g in b.gradientStorage { for i in g.indices { g[i] *= scale } } }
            return result
        }
        mutating func withUpdateBuffers<R>(_ body: (UpdateBuffers) throws -> R) rethrows -> R { try inner.withUpdateBuffers(body) }
        func validationLoss(_ examples: [Inner.Example]) throws -> Double? { try inner.validationLoss(examples) }
    }

    /// The loop's step with clipping at the default 1.0 against PyTorch + PEFT
    /// (every one of the 20 steps clips: PyTorch's norms are 2.4-3.4).
    @Test(arguments: LoRAGradientParityTests.models)
    func twentyClippedStepsTrackPyTorch(name: String) throws {
        let (model, adapter, ref) = try LoRAGradientParityTests.load(name)
        let directory = LoRAGradientParityTests.fixture(name)
        let clipped = try JSONDecoder().decode(Clipped.self, from: Data(contentsOf: directory.appendingPathComponent("clipped.json")))
        #expect(clipped.max_grad_norm == LoRARecipe.defaults.maxGradNorm)
        #expect(clipped.grad_norms.count == ref.steps && clipped.grad_norms.allSatisfy { $0 > Double(clipped.max_grad_norm) })
        var lora = ScaledGradient(inner: LoRARecipe.Model(engine: LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model)),
                                                          parameters: LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)),
                                  scale: clipped.loss_scale)
        var optimizer = AdamW(configuration: AdamW.Configuration(weightDecay: ref.weight_decay))
        let schedule = try LearningRateSchedule(kind: .cosine, peak: ref.lr, warmupSteps: ref.warmup_steps, totalSteps: ref.steps)
        let batch = LoRAGradientParityTests.batch(ref)
        var losses: [Double] = []
        for step in 0..<ref.steps {
            losses.append(Double(try TrainingLoop.optimizerStep(&lora, examples: batch, step: step, optimizer: &optimizer,
                                                                learningRate: schedule.learningRate(at: step),
                                                                maxGradNorm: clipped.max_grad_norm).loss))
        }
        #expect(losses.count == clipped.step_losses.count)
        for (i, (mine, torch)) in zip(losses, clipped.step_losses).enumerated() {
            #expect(abs(mine - torch) / torch <= Self.stepLossRelative, "\(name) step \(i): \(mine) vs \(torch)")
        }
        let final = try SafeTensors(contentsOf: directory.appendingPathComponent("final_clipped.safetensors"))
        let unclipped = try SafeTensors(contentsOf: directory.appendingPathComponent("final.safetensors"))
        #expect(final.names.count == lora.inner.parameters.namedBuffers.count)
        var clippingMatters = false
        for (key, buffer) in lora.inner.parameters.namedBuffers {
            let torch = try final.tensor(named: key).data
            let scale = torch.map { abs($0) }.max()!
            #expect(buffer.count == torch.count)
            let error = zip(buffer.array, torch).map { abs($0 - $1) }.max()!
            #expect(error <= Self.finalWeightRelative * scale, "\(name) \(key): max |Δ| \(error), max |w| \(scale)")
            // Without clipping PyTorch ends elsewhere: this check would catch a loop that skipped it.
            let apart = zip(try unclipped.tensor(named: key).data, torch).map { abs($0 - $1) }.max()!
            if apart > 3 * Self.finalWeightRelative * scale { clippingMatters = true }
        }
        #expect(clippingMatters)
    }

    @Test func adapterFilesRoundTrip() throws {
        let (model, adapter, _) = try LoRAGradientParityTests.load("tiny-qwen2")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try adapter.save(to: dir)
        let back = try LoRAAdapter(directory: dir, model: model.configuration)
        #expect(back.configuration == adapter.configuration)
        #expect(back.pairs == adapter.pairs)
        // PEFT's key names, as PEFT wrote them in the fixture.
        let written = try SafeTensors(contentsOf: dir.appendingPathComponent(LoRAAdapter.weightsFileName))
        let peft = try SafeTensors(contentsOf: LoRAGradientParityTests.fixture("tiny-qwen2").appendingPathComponent("adapter/adapter_model.safetensors"))
        #expect(written.names == peft.names)
    }

    static func sequences(_ ref: LoRAGradientParityTests.Reference) -> [TrainingSequence] {
        // Six variations of the fixture's two sequences.
        (0..<3).flatMap { k in
            LoRAGradientParityTests.batch(ref).map { s in
                TrainingSequence(tokens: s.tokens.map { ($0 + 7 * k) % 256 }, targets: s.targets)
            }
        }
    }

    /// A run interrupted after 3 of 6 steps (checkpoints every 2) and resumed
    /// ends with exactly the weights of an uninterrupted run.
    @Test func resumeAfterCrashGivesTheSameAdapter() throws {
        let (model, _, ref) = try LoRAGradientParityTests.load("tiny-llama")
        let trainer = LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model))
        var options = LoRARecipe.defaults
        options.learningRate = 1e-2
        options.batchSize = 1
        options.gradientAccumulation = 2
        options.validationFraction = 0.2
        options.checkpointEvery = 2
        options.epochs = 3
        let run = try LoRARecipe(engine: trainer, sequences: Self.sequences(ref), lora: LoRAConfiguration(rank: 4, alpha: 8),
                                 options: options, baseModel: "tiny-llama", dataFile: "fixture")
        #expect(run.validation.count == 2 && run.train.count == 4)
        #expect(run.totalSteps == 6)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lora-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let quiet: @Sendable (String) -> Void = { _ in }
        let whole = try run.run(output: root.appendingPathComponent("a"), resume: false, progressSink: quiet)
        #expect(whole.steps == 6)
        let crashed = try run.run(output: root.appendingPathComponent("b"), resume: false, progressSink: quiet, crashAfter: 3)
        #expect(crashed.steps == 3)
        let resumed = try run.run(output: root.appendingPathComponent("b"), resume: true, progressSink: quiet)
        #expect(resumed.resumedFrom == 2)
        let a = try LoRAAdapter(directory: root.appendingPathComponent("a"), model: model.configuration)
        let b = try LoRAAdapter(directory: root.appendingPathComponent("b"), model: model.configuration)
        #expect(a.pairs == b.pairs)
        // The validation loss is the written adapter's mean answer-token loss over the held-out sequences.
        let written = LoRAParameters(a, layers: model.configuration.numHiddenLayers)
        var sum = 0.0, count = 0
        for s in run.validation {
            let r = try trainer.loss(s, lora: written)
            sum += r.sum
            count += r.count
        }
        let validationLoss = try #require(whole.validationLoss)
        #expect(count > 0 && abs(validationLoss - sum / Double(count)) <= 1e-6 * validationLoss, "\(validationLoss) vs \(sum / Double(count))")
        // Training moved B away from PEFT's zero init.
        #expect(a.pairs.contains { $0.b.contains { $0 != 0 } })
    }
}
