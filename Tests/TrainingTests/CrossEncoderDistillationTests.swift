import Foundation
import Testing
import Models
import Tokenizers
@testable import Training

/// `--loss mse` and `--loss margin-mse` against sentence-transformers' own
/// CrossEncoder MSELoss and MarginMSELoss on the tiny BERT fixture
/// (Scripts/fixtures/train_cross_encoder_distill_reference.py), with the
/// BCE parity test's tolerances; and reading teacher scores from data files.
@Suite struct CrossEncoderDistillationTests {
    /// |loss − sentence-transformers'| on the fixed batch.
    static let lossTolerance: Float = BERTTrainingTests.lossTolerance
    /// Cosine between each parameter's gradient and sentence-transformers'.
    static let minimumGradientCosine = BERTTrainingTests.minimumGradientCosine
    /// Relative gap of the loss before each AdamW step and after the last.
    static let curveRelativeTolerance = BERTTrainingTests.curveRelativeTolerance

    struct Reference: Decodable {
        struct Adam: Decodable {
            var steps: Int, lr: Float, weight_decay: Float, warmup_steps: Int, max_grad_norm: Float
            var losses: [Float], final_loss: Float
        }
        struct Pair: Decodable {
            var query: String, passage: String, score: Double, input_ids: [Int32], token_type_ids: [Int32]
        }
        struct Triple: Decodable {
            var query: String, positive: String, negative: String, margin: Double
            var positive_ids: [Int32], positive_types: [Int32], negative_ids: [Int32], negative_types: [Int32]
        }
        struct Case: Decodable {
            var loss: Float, logits: [Float], gradients: [String: [Float]], adamw: Adam
            var pairs: [Pair]?, triples: [Triple]?
        }
        var mse: Case
        var margin_mse: Case
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: BERTTrainingTests.tiny.appendingPathComponent("distill_reference.json")))
    }

    static func examples(_ c: Reference.Case) -> [BERTTrainingExample] {
        if let triples = c.triples {
            return triples.map {
                BERTTrainingExample(inputIDs: $0.positive_ids, tokenTypeIDs: $0.positive_types, label: Float($0.margin),
                                    negative: .init(inputIDs: $0.negative_ids, tokenTypeIDs: $0.negative_types))
            }
        }
        return (c.pairs ?? []).map { BERTTrainingExample(inputIDs: $0.input_ids, tokenTypeIDs: $0.token_type_ids, label: Float($0.score)) }
    }

    static func model(_ loss: CrossEncoderLoss) throws -> BERTTraining {
        var m = try BERTTrainingTests.model()
        m.loss = loss
        return m
    }

    func checkGradients(_ loss: CrossEncoderLoss, _ c: Reference.Case) throws {
        let model = try Self.model(loss)
        let examples = Self.examples(c)
        #expect(examples.count == (loss == .mse ? 6 : 3))
        let batch = try model.batch(examples)
        var gradients = [Float](repeating: 0, count: model.parameters.count)
        let (value, logits) = model.lossAndGradients(batch, gradients: &gradients)
        #expect(abs(value - c.loss) <= Self.lossTolerance, "\(loss.rawValue): loss \(value) vs \(c.loss)")
        #expect(logits.count == c.logits.count && !logits.isEmpty)
        for (a, b) in zip(logits, c.logits) { #expect(abs(a - b) <= Self.lossTolerance) }
        #expect(Set(model.parameters.names) == Set(c.gradients.keys.filter { !$0.hasSuffix("position_ids") }))
        for slot in model.parameters.slots {
            let expected = try #require(c.gradients[slot.name], "sentence-transformers has no \(slot.name)")
            let ours = gradients[slot.offset..<(slot.offset + slot.count)]
            let n1 = ours.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let n2 = expected.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            if n2 < BERTTrainingTests.zeroGradientNorm {
                // Zero in exact arithmetic: key biases (a constant per softmax row) and, for
                // margins, the classifier bias (it cancels in s(q, p) − s(q, n)).
                let exactlyZero = slot.name.contains("attention.self.key.bias") || (loss == .marginMSE && slot.name == "classifier.bias")
                #expect(exactlyZero, "\(slot.name): unexpectedly zero gradient")
                #expect(n1 < BERTTrainingTests.zeroGradientNorm, "\(slot.name): norm \(n1), sentence-transformers' is \(n2)")
                continue
            }
            let cosine = BERTTrainingTests.cosine(ours, expected)
            #expect(cosine >= Self.minimumGradientCosine, "\(loss.rawValue) \(slot.name): cosine \(cosine)")
            #expect(abs(n1 - n2) <= 1e-3 * max(n2, 1e-6), "\(loss.rawValue) \(slot.name): norm \(n1) vs \(n2)")
        }
    }

    func checkAdamW(_ loss: CrossEncoderLoss, _ c: Reference.Case) throws {
        let examples = Self.examples(c)
        let a = c.adamw
        let schedule = try LearningRateSchedule(kind: .cosine, peak: a.lr, warmupSteps: a.warmup_steps, totalSteps: a.steps)
        var adam = AdamW(configuration: .init(weightDecay: a.weight_decay))
        var trainable = CrossEncoderRecipe.Model(engine: try Self.model(loss), microBatchSize: examples.count, seed: 0)
        for step in 0..<a.steps {
            let value = try TrainingLoop.optimizerStep(&trainable, examples: examples, step: step, optimizer: &adam,
                                                       learningRate: schedule.learningRate(at: step), maxGradNorm: a.max_grad_norm).loss
            #expect(abs(value - a.losses[step]) <= Self.curveRelativeTolerance * a.losses[step], "\(loss.rawValue) step \(step): \(value) vs \(a.losses[step])")
        }
        // The recipe's validation loss is the same objective, forward only.
        let final = try #require(try trainable.validationLoss(examples))
        #expect(abs(Float(final) - a.final_loss) <= Self.curveRelativeTolerance * a.final_loss, "\(loss.rawValue) final \(final) vs \(a.final_loss)")
        #expect(a.final_loss < a.losses[0] * 0.9, "the reference run must learn for the comparison to mean something")
    }

    @Test func mseLossAndEveryGradientMatchSentenceTransformers() throws {
        try checkGradients(.mse, try Self.reference().mse)
    }

    @Test func marginMSELossAndEveryGradientMatchSentenceTransformers() throws {
        try checkGradients(.marginMSE, try Self.reference().margin_mse)
    }

    @Test func mseAdamWStepsTrackSentenceTransformers() throws {
        try checkAdamW(.mse, try Self.reference().mse)
    }

    @Test func marginMSEAdamWStepsTrackSentenceTransformers() throws {
        try checkAdamW(.marginMSE, try Self.reference().margin_mse)
    }

    /// The loss functions on hand-computed values, and their gradients against finite differences.
    @Test func lossesByHand() {
        let (mse, dm) = CrossEncoderLoss.mse.lossAndLogitGradients(logits: [1, -1], targets: [3, 0])
        #expect(abs(mse - 2.5) < 1e-6)  // ((1-3)² + (-1-0)²) / 2
        #expect(dm == [-2, -1])
        // Margins 2 − 0 = 2 against 5, and 1 − 3 = −2 against −2.
        let (margin, dg) = CrossEncoderLoss.marginMSE.lossAndLogitGradients(logits: [2, 1, 0, 3], targets: [5, -2])
        #expect(abs(margin - 4.5) < 1e-6)
        #expect(dg == [-3, 0, 3, 0])
        let (bce, db) = CrossEncoderLoss.bce.lossAndLogitGradients(logits: [0, 0], targets: [1, 0])
        #expect(abs(bce - Float(log(2.0))) < 1e-6)
        #expect(db == [-0.25, 0.25])
    }

    /// A margin-mse engine refuses pairs, the others refuse triples.
    @Test func batchShapeMustMatchTheLoss() throws {
        let r = try Self.reference()
        #expect(throws: TrainingError.self) { try Self.model(.marginMSE).batch(Self.examples(r.mse)) }
        #expect(throws: TrainingError.self) { try Self.model(.mse).batch(Self.examples(r.margin_mse)) }
        #expect(throws: TrainingError.self) { try Self.model(.bce).batch(Self.examples(r.margin_mse)) }
    }

    // MARK: data

    static func close(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 }
    }

    static func write(_ text: String) throws -> URL {
        let dir = CrossEncoderTrainerTests.temporaryDirectory()
        let url = dir.appendingPathComponent("data.jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func teacherScoresAreReadFromBothLayouts() throws {
        let url = try Self.write("""
            {"query":"heat flow","positives":[{"id":"a","text":"heat flows","score":2.5}],"negatives":[{"id":"b","text":"shock","score":-1},{"id":"c","text":"rank","score":0.25}]}
            {"query":"wing","passage":"shock waves on a wing","label":true,"score":1e-3}
            {"query":"wing","passage":"the model","label":false,"score":-3}

            """)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let pairs = try CrossEncoderData.read(url)
        #expect(pairs.map(\.score) == [2.5, -1, 0.25, 0.001, -3])
        let tokenizer = try Tokenizer(directory: BERTTrainingTests.tiny)
        let mse = try CrossEncoderData.encode(pairs, loss: .mse, tokenizer: tokenizer, maxSequence: 64).examples
        #expect(Self.close(mse.map(\.label), [2.5, -1, 0.25, 0.001, -3]))
        #expect(mse.allSatisfy { $0.negative == nil })
        // Triples: each positive with each negative of its query, pair lines grouped by query.
        let triples = try CrossEncoderData.encode(pairs, loss: .marginMSE, tokenizer: tokenizer, maxSequence: 64).examples
        #expect(Self.close(triples.map(\.label), [3.5, 2.25, 3.001]))
        let plain = try CrossEncoderData.encode(pairs, tokenizer: tokenizer, maxSequence: 64).examples
        #expect(triples[0].inputIDs == plain[0].inputIDs && triples[0].negative?.inputIDs == plain[1].inputIDs)
        #expect(triples[1].negative?.inputIDs == plain[2].inputIDs)
        #expect(triples[2].inputIDs == plain[3].inputIDs && triples[2].negative?.inputIDs == plain[4].inputIDs)
        // bce still reads 0/1 labels from the same file.
        #expect(try CrossEncoderData.encode(pairs, loss: .bce, tokenizer: tokenizer, maxSequence: 64).examples.map(\.label) == [1, 0, 0, 1, 0])
    }

    @Test func missingTeacherScoresNameFileAndLine() throws {
        let url = try Self.write("""
            {"query":"wing","passage":"shock waves on a wing","label":true,"score":1}
            {"query":"wing","passage":"the model","label":false}

            """)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let pairs = try CrossEncoderData.read(url)
        let tokenizer = try Tokenizer(directory: BERTTrainingTests.tiny)
        for loss in [CrossEncoderLoss.mse, .marginMSE] {
            #expect {
                try CrossEncoderData.encode(pairs, loss: loss, tokenizer: tokenizer, maxSequence: 64)
            } throws: { error in
                guard case let TrainingError.invalidData(file, line, reason) = error else { return false }
                return file == url.path && line == 2 && reason.contains("score") && reason.contains(loss.rawValue)
            }
        }
        // bce needs no score.
        #expect(try CrossEncoderData.encode(pairs, loss: .bce, tokenizer: tokenizer, maxSequence: 64).examples.count == 2)
        // A score that is not a number names its line.
        let bad = try Self.write("{\"query\":\"q\",\"passage\":\"p\",\"label\":true,\"score\":\"high\"}\n")
        defer { try? FileManager.default.removeItem(at: bad.deletingLastPathComponent()) }
        #expect { try CrossEncoderData.read(bad) } throws: { error in
            guard case let TrainingError.invalidData(_, line, reason) = error else { return false }
            return line == 1 && reason.contains("score")
        }
    }

    @Test func marginMSEWithoutAnyTripleIsRefused() throws {
        let url = try Self.write("{\"query\":\"q\",\"passage\":\"p\",\"label\":true,\"score\":1}\n")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let pairs = try CrossEncoderData.read(url)
        #expect {
            try CrossEncoderData.encode(pairs, loss: .marginMSE, tokenizer: try Tokenizer(directory: BERTTrainingTests.tiny), maxSequence: 64)
        } throws: { error in
            guard case let TrainingError.invalidParameter(name, reason) = error else { return false }
            return name == "loss" && reason.contains("margin-mse")
        }
    }

    /// The loss is a run fact: a checkpoint of an mse run does not resume as bce.
    @Test func theLossIsARunFact() throws {
        var options = CrossEncoderRecipe.defaults
        options.maxSteps = 1
        let r = try Self.reference()
        let loop = try CrossEncoderRecipe.loop(model: try Self.model(.mse), examples: Self.examples(r.mse), options: options)
        #expect(loop.runFacts["loss"] == "mse")
        let bce = try CrossEncoderRecipe.loop(model: try Self.model(.bce), examples: Self.examples(r.mse), options: options)
        #expect(bce.runFacts["loss"] == "bce")
        #expect(throws: TrainingError.self) { try loop.checkFacts(bce.runFacts, file: "ckpt") }
    }
}
