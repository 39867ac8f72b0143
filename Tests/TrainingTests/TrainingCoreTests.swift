import Foundation
import Synchronization
import Testing
import Tensor
@testable import Training

/// The shared training core: AdamW and the schedules against PyTorch /
/// transformers (Scripts/fixtures/train_cross_encoder_reference.py writes
/// optimizer_reference.json), the RNG and data order, gradient helpers,
/// checkpoints, the progress line and the data reader's errors.
@Suite struct TrainingCoreTests {
    /// AdamW parameters after each step vs torch.optim.AdamW (f32 both sides).
    static let adamTolerance: Float = 2e-6
    /// Learning rates vs transformers' schedulers.
    static let scheduleTolerance: Double = 1e-12

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

    struct OptimizerReference: Decodable {
        struct Adam: Decodable {
            var lr: Float, beta1: Float, beta2: Float, eps: Float, weight_decay: Float
            var start: [Float], gradients: [[Float]], after: [[Float]]
        }
        struct Schedules: Decodable {
            var peak: Float, warmup: Int, total: Int
            var lrs: [String: [Double]]
        }
        var adamw: Adam
        var schedules: Schedules
    }

    static func reference() throws -> OptimizerReference {
        try JSONDecoder().decode(OptimizerReference.self, from: Data(contentsOf: fixtures.appendingPathComponent("optimizer_reference.json")))
    }

    @Test func adamWMatchesPyTorch() throws {
        let r = try Self.reference().adamw
        var adam = AdamW(configuration: .init(beta1: r.beta1, beta2: r.beta2, epsilon: r.eps, weightDecay: r.weight_decay))
        var p = r.start
        for (step, g) in r.gradients.enumerated() {
            adam.beginStep()
            adam.update("p", parameter: &p, gradient: g, learningRate: r.lr)
            for i in p.indices {
                #expect(abs(p[i] - r.after[step][i]) <= Self.adamTolerance, "step \(step + 1), element \(i): \(p[i]) vs \(r.after[step][i])")
            }
        }
        #expect(adam.step == r.gradients.count)
    }

    @Test func adamWWithoutDecayLeavesZeroGradientParameterStill() {
        var adam = AdamW(configuration: .init(weightDecay: 0.5))
        var decayed: [Float] = [1, -2], kept: [Float] = [1, -2]
        adam.beginStep()
        adam.update("a", parameter: &decayed, gradient: [0, 0], learningRate: 0.1)
        adam.update("b", parameter: &kept, gradient: [0, 0], learningRate: 0.1, decay: false)
        #expect(kept == [1, -2])
        #expect(decayed == [Float(1 * (1 - 0.05)), Float(-2 * (1 - 0.05))])
    }

    @Test(arguments: LearningRateSchedule.Kind.allCases)
    func scheduleMatchesTransformers(kind: LearningRateSchedule.Kind) throws {
        let r = try Self.reference().schedules
        let schedule = try LearningRateSchedule(kind: kind, peak: r.peak, warmupSteps: r.warmup, totalSteps: r.total)
        let expected = try #require(r.lrs[kind.rawValue])
        for (step, lr) in expected.enumerated() {
            // transformers multiplies the f64 peak; ours is an f32 peak widened.
            let ours = Double(r.peak) * schedule.multiplier(at: step)
            #expect(abs(ours - lr) <= Self.scheduleTolerance + 1e-7 * lr, "\(kind) step \(step): \(ours) vs \(lr)")
        }
    }

    @Test func warmupRatioRoundsUp() throws {
        #expect(try LearningRateSchedule(kind: .cosine, peak: 1, warmupRatio: 0.03, totalSteps: 100).warmupSteps == 3)
        #expect(try LearningRateSchedule(kind: .cosine, peak: 1, warmupRatio: 0.03, totalSteps: 101).warmupSteps == 4)
        #expect(throws: TrainingError.self) { try LearningRateSchedule(kind: .cosine, peak: 1, warmupRatio: 1.5, totalSteps: 10) }
    }

    @Test func rngIsDeterministicAndStreamsDiffer() {
        var a = TrainingRNG(seed: 42), b = TrainingRNG(seed: 42)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        var c = TrainingRNG(seed: 42, stream: 1), d = TrainingRNG(seed: 42, stream: 2)
        #expect(c.next() != d.next())
        var e = TrainingRNG(seed: 7)
        let perm = e.permutation(50)
        #expect(perm.sorted() == Array(0..<50))
        #expect(perm != Array(0..<50))
        // The normal draws have roughly unit variance (10k samples: ±5%).
        var f = TrainingRNG(seed: 3)
        let samples = (0..<10_000).map { _ in f.nextNormal() }
        let mean = samples.reduce(0, +) / 10_000
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 10_000
        #expect(abs(mean) < 0.05)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test func dataOrderResumesMidEpoch() throws {
        var whole = try DataOrder(count: 10, seed: 9)
        var batches: [[Int]] = []
        for _ in 0..<7 { batches.append(whole.nextBatch(size: 3).indices) }
        // Epochs of 10 in batches of 3: 3, 3, 3, 1; every epoch a permutation; epochs differ.
        #expect(batches[3].count == 1)
        #expect(Set(batches[0...3].joined()) == Set(0..<10))
        #expect(whole.order(epoch: 0) != whole.order(epoch: 1))
        var first = try DataOrder(count: 10, seed: 9)
        for _ in 0..<5 { _ = first.nextBatch(size: 3) }
        let encoded = try JSONEncoder().encode(first)
        var resumed = try JSONDecoder().decode(DataOrder.self, from: encoded)
        #expect(resumed.nextBatch(size: 3).indices == batches[5])
        #expect(resumed.nextBatch(size: 3).indices == batches[6])
    }

    @Test func gradientClippingMatchesTorchFormula() {
        var g: [Float] = [3, 4]
        let norm = GradientClipping.clipGradNorm(&g, maxNorm: 1)
        #expect(norm == 5)
        #expect(abs(g[0] - 3 / (5 + 1e-6)) < 1e-7 && abs(g[1] - 4 / (5 + 1e-6)) < 1e-7)
        var small: [Float] = [0.3, 0.4]
        GradientClipping.clipGradNorm(&small, maxNorm: 1)
        #expect(small == [0.3, 0.4])
        // Split storage (one buffer per tensor, as LoRA holds it): one global norm over all of it.
        var a: [Float] = [3, 0], b: [Float] = [0, 4]
        let splitNorm = a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in GradientClipping.clipGradNorm([pa, pb], maxNorm: 1) }
        }
        #expect(splitNorm == 5)
        #expect(a[0] == g[0] && b[1] == g[1])
        #expect(CrossEncoderRecipe.Model.microBatchRanges(count: 7, size: 3) == [0..<3, 3..<6, 6..<7])
    }

    @Test func checkpointRoundTripsExactly() throws {
        var params = FlatParameters()
        params.append("a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        params.append("a.bias", shape: [2], values: [0.5, -0.5])
        var adam = AdamW()
        let gradients: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1, -1]
        adam.beginStep()
        let slots = params.slots
        params.values.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                for s in slots {
                    adam.update(s.name, parameter: p.baseAddress! + s.offset, gradient: g.baseAddress! + s.offset, count: s.count,
                                learningRate: 0.01, decay: s.decay)
                }
            }
        }
        var order = try DataOrder(count: 4, seed: 5)
        _ = order.nextBatch(size: 3)
        let state = TrainingCheckpoint.State(step: 1, optimizer: adam.configuration, dataOrder: order,
                                             parameterOrder: params.names, run: ["lr": "0.01"], lossHistory: [0.7])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(TrainingCheckpoint.fileName(step: 1))
        try TrainingCheckpoint(state: state, parameters: params.tensors, optimizer: adam).write(to: url)
        let back = try TrainingCheckpoint(contentsOf: url)
        #expect(back.state == state)
        #expect(back.optimizer == adam)
        var restored = FlatParameters()
        restored.append("a.weight", shape: [2, 3], values: [Float](repeating: 0, count: 6))
        restored.append("a.bias", shape: [2], values: [0, 0])
        try restored.load(back.parameters, file: url.path)
        #expect(restored.values == params.values)
        #expect(TrainingCheckpoint.latest(in: dir) == url)
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [url.lastPathComponent])
        // A file that is not a checkpoint says so.
        let bogus = dir.appendingPathComponent("bogus.safetensors")
        try Data("garbage".utf8).write(to: bogus)
        #expect(throws: TrainingError.self) { try TrainingCheckpoint(contentsOf: bogus) }
    }

    @Test func progressLineHasStepLossRateAndETA() {
        let line = ProgressReporter.format(label: "train", step: 25, total: 100, loss: 0.5, tokens: 5000, elapsed: 10, stepsDone: 25)
        #expect(line.contains("25/100"))
        #expect(line.contains("loss 0.5000"))
        #expect(line.contains("500 tok/s"))
        #expect(line.contains("ETA 30s"))
        let lines = Mutex<[String]>([])
        var reporter = ProgressReporter(total: 2, interval: 0, sink: { s in lines.withLock { $0.append(s) } })
        reporter.step(1, loss: 1, tokens: 10)
        reporter.step(2, loss: 0.5, tokens: 10)
        #expect(lines.withLock { $0.count } == 2)
    }

    struct Row: Decodable { var query: String; var n: Int }

    @Test func dataReaderNamesFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("data.jsonl")
        try Data("{\"query\":\"a\",\"n\":1}\n\n{\"query\":\"b\",\"n\":2}\r\n".utf8).write(to: url)
        let rows = try TrainingDataReader(url).records(Row.self)
        #expect(rows.map(\.line) == [1, 3])
        #expect(rows.map(\.record.query) == ["a", "b"])
        for (text, reason) in [("{\"query\":\"a\"}", "missing field \"n\""), ("{\"query\":\"a\",\"n\":\"x\"}", "wrong type"), ("{oops", "not valid JSON")] {
            try Data(("{\"query\":\"a\",\"n\":1}\n" + text + "\n").utf8).write(to: url)
            #expect {
                try TrainingDataReader(url).records(Row.self)
            } throws: { error in
                guard case let TrainingError.invalidData(file, line, why) = error else { return false }
                return file == url.path && line == 2 && why.contains(reason)
            }
        }
    }
}
