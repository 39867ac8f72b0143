import Foundation
import Testing
import Models
import ModelFormats
@testable import Training

/// A directory written by `limrank train --method cross-encoder`, loaded by
/// sentence-transformers' CrossEncoder (Scripts/fixtures/cross_encoder_roundtrip.py
/// wrote both the directory and CrossEncoder's logits) and by limrank.
@Suite struct RoundTripTests {
    /// |limrank logit − CrossEncoder logit| (the 1e-4).
    static let scoreTolerance: Float = 1e-4

    static var trained: URL { BERTTrainingTests.fixtures.appendingPathComponent("limrank-trained") }

    struct Scores: Decodable {
        struct Pair: Decodable { var query: String, passage: String, logit: Float }
        var pairs: [Pair]
    }

    @Test func crossEncoderScoresMatchLimrank() async throws {
        let expected = try JSONDecoder().decode(Scores.self, from: Data(contentsOf: Self.trained.appendingPathComponent("crossencoder_scores.json")))
        let encoder = try BERTCrossEncoder(directory: Self.trained)
        for pair in expected.pairs {
            let ours = try await encoder.score(query: pair.query, documents: [pair.passage])[0]
            #expect(abs(ours - pair.logit) <= Self.scoreTolerance, "\(pair.query) / \(pair.passage): \(ours) vs \(pair.logit)")
        }
        // The head was trained: the scores are not those of the untrained base model.
        var rng = TrainingRNG(seed: 0)
        let base = try BERTTraining(model: try BERTModel(directory: BERTTrainingTests.tiny), rng: &rng)
        let trainedWeights = try SafeTensors(contentsOf: Self.trained.appendingPathComponent("model.safetensors"))
        #expect(try trainedWeights.tensor(named: "classifier.weight").data != base.parameters.tensor("classifier.weight")?.data)
    }

    @Test func exportWritesTheKeysAndShapesTransformersExpects() throws {
        var rng = TrainingRNG(seed: 0)
        let model = try BERTTraining(model: try BERTModel(directory: BERTTrainingTests.tiny), rng: &rng)
        let out = CrossEncoderTrainerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        try CrossEncoderExport.write(model, base: BERTTrainingTests.tiny, to: out)
        let ours = try SafeTensors(contentsOf: out.appendingPathComponent("model.safetensors"))
        let committed = try SafeTensors(contentsOf: Self.trained.appendingPathComponent("model.safetensors"))
        let reference = try SafeTensors(contentsOf: BERTTrainingTests.tiny.appendingPathComponent("model.safetensors"))
        #expect(Set(ours.names) == Set(committed.names))
        // transformers' own save of the same architecture (minus its position_ids buffer, if any).
        #expect(Set(ours.names) == Set(reference.names.filter { !$0.hasSuffix("position_ids") }))
        for name in ours.names { #expect(try ours.entry(named: name).shape == reference.entry(named: name).shape, "\(name)") }
    }
}
