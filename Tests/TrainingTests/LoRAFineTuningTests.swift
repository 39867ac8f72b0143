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
        let trainer = LlamaLoRATrainer(weights: LlamaTrainingWeights(model: model))
        let lora = LoRAParameters(adapter, layers: model.configuration.numHiddenLayers)
        let gradients = lora.makeGradients()
        var optimizer = AdamW(configuration: AdamW.Configuration(weightDecay: ref.weight_decay))
        let schedule = try LearningRateSchedule(kind: .cosine, peak: ref.lr, warmupSteps: ref.warmup_steps, totalSteps: ref.steps)
        let batch = LoRAGradientParityTests.batch(ref)
        var losses: [Double] = []
        for step in 0..<ref.steps {
            losses.append(Double(try LoRAFineTuning.optimizerStep(
                trainer: trainer, batch: batch, lora: lora, gradients: gradients, optimizer: &optimizer,
                learningRate: schedule.learningRate(at: step), maxGradNorm: 0)))
        }
        // The loss must actually move, or tracking it proves nothing.
        #expect(ref.step_losses.first! - ref.step_losses.last! > 20 * Self.stepLossRelative * ref.step_losses.first!)
        for (i, (mine, torch)) in zip(losses, ref.step_losses).enumerated() {
            #expect(abs(mine - torch) / torch <= Self.stepLossRelative, "\(name) step \(i): \(mine) vs \(torch)")
        }
        let final = try SafeTensors(contentsOf: LoRAGradientParityTests.fixture(name).appendingPathComponent("final.safetensors"))
        for (key, buffer) in lora.namedBuffers {
            let torch = try final.tensor(named: key).data
            let scale = torch.map { abs($0) }.max()!
            let error = zip(buffer.array, torch).map { abs($0 - $1) }.max()!
            #expect(error <= Self.finalWeightRelative * scale, "\(name) \(key): max |Δ| \(error), max |w| \(scale)")
        }
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
        var options = LoRAFineTuning.Options(lora: LoRAConfiguration(rank: 4, alpha: 8), learningRate: 1e-2,
                                             batchSize: 1, gradientAccumulation: 2, validationFraction: 0.2, checkpointEvery: 2)
        options.epochs = 3
        let run = try LoRAFineTuning(trainer: trainer, sequences: Self.sequences(ref), options: options,
                                     baseModel: "tiny-llama", dataFile: "fixture")
        #expect(run.validation.count == 2 && run.train.count == 4)
        #expect(run.totalSteps == 6)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lora-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let quiet: @Sendable (String) -> Void = { _ in }
        let whole = try run.run(output: root.appendingPathComponent("a"), resume: false, progressSink: quiet)
        #expect(whole.steps == 6 && whole.validationLoss != nil)
        let crashed = try run.run(output: root.appendingPathComponent("b"), resume: false, progressSink: quiet, crashAfter: 3)
        #expect(crashed.steps == 3)
        let resumed = try run.run(output: root.appendingPathComponent("b"), resume: true, progressSink: quiet)
        #expect(resumed.resumedFrom == 2)
        let a = try LoRAAdapter(directory: root.appendingPathComponent("a"), model: model.configuration)
        let b = try LoRAAdapter(directory: root.appendingPathComponent("b"), model: model.configuration)
        #expect(a.pairs == b.pairs)
        // Training moved B away from PEFT's zero init.
        #expect(a.pairs.contains { $0.b.contains { $0 != 0 } })
    }
}
