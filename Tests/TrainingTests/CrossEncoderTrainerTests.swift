import Foundation
import Testing
import Models
import Tensor
import Tokenizers
@testable import Training

/// The training loop (resume, determinism, accumulation), the data reader's
/// errors and the export, on the tiny fixture model.
@Suite struct CrossEncoderTrainerTests {
    static var tiny: URL { BERTTrainingTests.tiny }

    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-train-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// 14 labelled pairs in the tiny vocabulary (the CLI tests train on them too).
    static var pairsJSONL: String {
        get throws { try String(contentsOf: BERTTrainingTests.fixtures.appendingPathComponent("tiny-pairs.jsonl"), encoding: .utf8) }
    }

    static func examples() throws -> [BERTTrainingExample] {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("pairs.jsonl")
        try Data(try pairsJSONL.utf8).write(to: url)
        let pairs = try CrossEncoderData.read(url)
        return try CrossEncoderData.encode(pairs, tokenizer: try Tokenizer(directory: tiny), maxSequence: 64).examples
    }

    static func trainer(_ options: TrainingOptions) throws -> TrainingLoop<CrossEncoderRecipe.Model> {
        var rng = TrainingRNG(seed: 1)
        let model = try BERTTraining(model: try BERTModel(directory: tiny), rng: &rng)
        return try CrossEncoderRecipe.loop(model: model, examples: try examples(), options: options)
    }

    static let quiet: @Sendable (String) -> Void = { _ in }

    static var options: TrainingOptions {
        var o = CrossEncoderRecipe.defaults
        o.validationFraction = 0.15
        o.epochs = 2
        o.batchSize = 2
        o.gradientAccumulation = 2
        o.learningRate = 1e-3
        o.warmupRatio = 0.2
        o.schedule = .cosine
        o.checkpointEvery = 2
        o.seed = 77
        return o
    }

    @Test func resumeAfterACrashEndsWithIdenticalWeights() throws {
        let plain = Self.temporaryDirectory(), crashed = Self.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: plain)
            try? FileManager.default.removeItem(at: crashed)
        }
        var whole = try Self.trainer(Self.options)
        let summary = try whole.run(checkpointDirectory: plain, progressSink: Self.quiet)
        #expect(summary.steps == summary.totalSteps)
        #expect(whole.validation.count == 3)  // ⌈14 × 0.15⌉
        #expect(summary.totalSteps == 6)  // 11 training examples, 4 per step (the last 3), 2 epochs
        // A run that dies after step 5 (its last checkpoint is step 4), then a fresh process resumes.
        var first = try Self.trainer(Self.options)
        let partial = try first.run(checkpointDirectory: crashed, progressSink: Self.quiet, crashAfter: 5)
        #expect(partial.steps == 5)
        #expect(TrainingCheckpoint.latest(in: crashed)?.lastPathComponent == TrainingCheckpoint.fileName(step: 4))
        var second = try Self.trainer(Self.options)
        let resumed = try second.run(checkpointDirectory: crashed, resume: true, progressSink: Self.quiet)
        #expect(resumed.resumedFrom == 4)
        #expect(resumed.steps == 6)
        #expect(second.model.engine.parameters.values == whole.model.engine.parameters.values, "resumed weights differ from the uninterrupted run")
        #expect(resumed.losses == summary.losses)
        // Training moved the weights and lowered the loss.
        #expect(whole.model.engine.parameters.values != (try Self.trainer(Self.options)).model.engine.parameters.values)
        #expect(summary.losses.last! < summary.losses.first!)
        // The validation loss is the mean BCE of the final model over the held-out pairs, one at a time.
        let engine = whole.model.engine
        let perExample = try whole.validation.map { e -> Double in
            let batch = try engine.batch([e])
            return Double(BERTTraining.binaryCrossEntropy(logits: engine.logits(batch), labels: batch.labels))
        }
        let expected = perExample.reduce(0, +) / Double(perExample.count)
        let validationLoss = try #require(summary.validationLoss)
        #expect(abs(validationLoss - expected) <= 1e-5 * expected, "\(validationLoss) vs \(expected)")
    }

    @Test func sameSeedSameWeightsOtherSeedOther() throws {
        var a = try Self.trainer(Self.options), b = try Self.trainer(Self.options)
        _ = try a.run(checkpointDirectory: nil, progressSink: Self.quiet)
        _ = try b.run(checkpointDirectory: nil, progressSink: Self.quiet)
        #expect(a.model.engine.parameters.values == b.model.engine.parameters.values)
        var options = Self.options
        options.seed = 78
        var c = try Self.trainer(options)
        _ = try c.run(checkpointDirectory: nil, progressSink: Self.quiet)
        #expect(c.model.engine.parameters.values != a.model.engine.parameters.values)
    }

    @Test func resumeWithOtherOptionsIsRefused() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var first = try Self.trainer(Self.options)
        _ = try first.run(checkpointDirectory: dir, progressSink: Self.quiet, crashAfter: 3)
        var options = Self.options
        options.learningRate = 5e-4
        var second = try Self.trainer(options)
        #expect {
            try second.run(checkpointDirectory: dir, resume: true, progressSink: Self.quiet)
        } throws: { error in
            guard case let TrainingError.invalidCheckpoint(_, reason) = error else { return false }
            return reason.contains("learningRate = 0.001") && reason.contains("0.0005")
        }
    }

    /// Hugging Face datasets' train_test_split: ⌈count × fraction⌉ held out,
    /// at most count − 1, none from one example; both sides keep input order.
    @Test func validationSplitRoundsUp() throws {
        for (count, fraction, held) in [(120, 0.01, 2), (250, 0.01, 3), (100, 0.01, 1), (14, 0.15, 3), (1, 0.5, 0), (2, 0.99, 1), (50, 0, 0)] {
            let (training, validation) = try DataOrder.validationSplit(Array(0..<count), fraction: fraction, seed: 7)
            #expect(validation.count == held, "\(count) × \(fraction)")
            #expect(training.count + validation.count == count && Set(training).isDisjoint(with: validation))
            #expect(training == training.sorted() && validation == validation.sorted())
        }
        let a = try DataOrder.validationSplit(Array(0..<100), fraction: 0.1, seed: 7).validation
        #expect(a == (try DataOrder.validationSplit(Array(0..<100), fraction: 0.1, seed: 7).validation))
        #expect(a != (try DataOrder.validationSplit(Array(0..<100), fraction: 0.1, seed: 8).validation))
    }

    @Test func maxStepsCapsTheRun() throws {
        var options = Self.options
        options.maxSteps = 2
        var t = try Self.trainer(options)
        let s = try t.run(checkpointDirectory: nil, progressSink: Self.quiet)
        #expect(s.steps == 2 && s.totalSteps == 2)
    }

    // MARK: data errors

    static func readError(_ text: String) throws -> TrainingError? {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("data.jsonl")
        try Data(text.utf8).write(to: url)
        do {
            _ = try CrossEncoderData.read(url)
            return nil
        } catch let error as TrainingError {
            if case let .invalidData(file, line, reason) = error { return .invalidData(file: URL(fileURLWithPath: file).lastPathComponent, line: line, reason: reason) }
            if case .emptyDataSet = error { return .emptyDataSet(file: "data.jsonl") }
            return error
        }
    }

    @Test func badDataLinesNameFileAndLine() throws {
        let good = "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n"
        func expectError(_ text: String, line: Int, _ fragment: String) throws {
            let error = try Self.readError(text)
            guard case let .invalidData(file, l, reason)? = error else {
                Issue.record("expected an invalidData error, got \(String(describing: error))")
                return
            }
            #expect(file == "data.jsonl")
            #expect(l == line)
            #expect(reason.contains(fragment), "\(reason)")
        }
        try expectError(good + "{\"query\":\"q\",\"passage\":\"p\",\"label\":\"maybe\"}\n", line: 2, "neither true nor false")
        try expectError(good + "{\"query\":\"q\",\"passage\":\"p\",\"label\":2}\n", line: 2, "neither true nor false")
        try expectError(good + "\n{\"query\":\"q\",\"passage\":\"p\"\n", line: 3, "not valid JSON")
        try expectError(good + "{\"passage\":\"p\",\"label\":true}\n", line: 2, "missing field \"query\"")
        try expectError(good + "{\"query\":\"q\",\"label\":true}\n", line: 2, "passage")
        try expectError(good + "{\"query\":\"q\",\"passage\":\"p\"}\n", line: 2, "missing field \"label\"")
        try expectError(good + "{\"query\":\"q\",\"positives\":[],\"negatives\":[]}\n", line: 2, "no passage")
        try expectError("{\"query\":\" \",\"passage\":\"p\",\"label\":false}\n", line: 1, "empty query")
        // Fields named as the record spells them; a line that is not an object says so.
        try expectError(good + "{\"query\":\"q\",\"negatives\":[{\"text\":\"n\"},1]}\n", line: 2, "field \"negatives[1]\" has the wrong type")
        try expectError(good + "[1, 2]\n", line: 2, "the record is not a JSON object")
        #expect(try Self.readError("\n\n") == .emptyDataSet(file: "data.jsonl"))
        #expect(try Self.readError("") == .emptyDataSet(file: "data.jsonl"))
        // Labels written as 0/1 and strings are accepted.
        #expect(try Self.readError("{\"query\":\"q\",\"passage\":\"p\",\"label\":1}\n{\"query\":\"q\",\"passage\":\"p\",\"label\":\"false\"}\n") == nil)
    }

    @Test func synthesizedExamplesGiveOnePairPerPassage() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("examples.jsonl")
        let line = "{\"id\":\"x\",\"query\":\"heat flow\",\"instruction\":\"in a wing\",\"positives\":[{\"id\":\"a\",\"text\":\"heat flows\"}],"
            + "\"negatives\":[{\"id\":\"b\",\"text\":\"shock\"},{\"id\":\"c\",\"text\":\"rank\"}]}\n"
        try Data(line.utf8).write(to: url)
        let pairs = try CrossEncoderData.read(url)
        #expect(pairs.map(\.relevant) == [true, false, false])
        #expect(pairs.allSatisfy { $0.query == "heat flow in a wing" && $0.line == 1 })
        #expect(pairs.map(\.passage) == ["heat flows", "shock", "rank"])
    }

    @Test func longPairsLoseTheirPassageEndNeverTheQuery() throws {
        let tokenizer = try Tokenizer(directory: Self.tiny)
        let long = CrossEncoderPair(query: "what is the boundary layer", passage: String(repeating: "the flow of air ", count: 20),
                                    relevant: true, file: "d.jsonl", line: 7)
        let short = CrossEncoderPair(query: "heat", passage: "heat flow", relevant: false, file: "d.jsonl", line: 8)
        let (examples, truncated) = try CrossEncoderData.encode([long, short], tokenizer: tokenizer, maxSequence: 16)
        #expect(truncated == [long])
        #expect(examples[0].inputIDs.count == 16)
        let query = tokenizer.encode(long.query, addSpecialTokens: false).ids.map { Int32($0) }
        #expect(Array(examples[0].inputIDs[1...query.count]) == query, "the query must survive whole")
        #expect(examples[1].inputIDs.count < 16)
        let hugeQuery = CrossEncoderPair(query: String(repeating: "heat ", count: 30), passage: "flow", relevant: true, file: "d.jsonl", line: 9)
        #expect(throws: TrainingError.invalidData(file: "d.jsonl", line: 9,
                                                  reason: "the query alone is 30 tokens; with the passage it cannot fit --max-seq 16")) {
            try CrossEncoderData.encode([hugeQuery], tokenizer: tokenizer, maxSequence: 16)
        }
    }

    // MARK: export

    @Test func exportedDirectoryScoresLikeTheTrainedModel() async throws {
        var t = try Self.trainer(Self.options)
        _ = try t.run(checkpointDirectory: nil, progressSink: Self.quiet)
        let out = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        try CrossEncoderExport.write(t.model.engine, base: Self.tiny, to: out, maxLength: 64)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(config?["architectures"] as? [String] == ["BertForSequenceClassification"])
        #expect(config?["num_labels"] as? Int == 1)
        for name in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        let encoder = try BERTCrossEncoder(directory: out)
        let examples = try Self.examples()
        let logits = t.model.engine.logits(try t.model.engine.batch(examples))
        let rows = try Self.pairsJSONL.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        for (i, row) in rows.enumerated() {
            let scores = try await encoder.score(query: row["query"] as! String, documents: [row["passage"] as! String])
            #expect(abs(scores[0] - logits[i]) <= 1e-5, "pair \(i): \(scores[0]) vs \(logits[i])")
        }
    }
}
