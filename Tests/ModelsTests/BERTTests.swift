import Foundation
import Testing
import ModelFormats
import Tensor
import TestSupport
@testable import Models

/// Parity of the BERT encoder against transformers / sentence-transformers,
/// on fixtures written by Scripts/fixtures/{tiny_bert_cross,minilm_embeddings}.py.
@Suite struct BERTTests {
    /// Logits of the tiny random cross-encoder vs BertForSequenceClassification.
    static let logitTolerance: Float = 1e-4
    /// Per-text cosine between our MiniLM embedding and sentence-transformers'.
    static let minimumCosine: Float = 0.99999
    /// Largest element-wise difference allowed on the (unit-norm) embeddings.
    static let embeddingTolerance: Float = 1e-4

    static var fixtures: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }
    static var tinyCross: URL { fixtures.appendingPathComponent("tiny-bert-cross") }

    struct CrossExpected: Decodable {
        struct Pair: Decodable {
            var query: String
            var document: String
            var input_ids: [Int32]
            var token_type_ids: [Int32]
            var logit: Float
        }
        var pairs: [Pair]
    }

    struct MiniLMExpected: Decodable {
        var max_seq_length: Int
        var texts: [String]
        var input_ids: [[Int32]]
        var embeddings: [[Float]]
    }

    static func decode<T: Decodable>(_: T.Type, _ url: URL) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var dot: Double = 0, na: Double = 0, nb: Double = 0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return Float(dot / (na.squareRoot() * nb.squareRoot()))
    }

    // MARK: tiny cross-encoder

    @Test func tinyCrossEncoderConfigurationDecodes() throws {
        let config = try BERTConfiguration.load(from: Self.tinyCross.appendingPathComponent("config.json"))
        #expect(config.hiddenSize == 32)
        #expect(config.numHiddenLayers == 2)
        #expect(config.numAttentionHeads == 4)
        #expect(config.numLabels == 1)
        #expect(config.architectures == ["BertForSequenceClassification"])
    }

    @Test func tinyCrossEncoderLogitsMatchTransformersAsOnePaddedBatch() throws {
        let model = try BERTModel(directory: Self.tinyCross)
        let expected = try Self.decode(CrossExpected.self, Self.tinyCross.appendingPathComponent("expected.json"))
        let batch = try BERTBatch(sequences: expected.pairs.map(\.input_ids),
                                  tokenTypes: expected.pairs.map(\.token_type_ids))
        #expect(batch.attentionMask.contains(0), "the fixture should exercise padding")
        let logits = try model.classify(batch)
        #expect(logits.count == expected.pairs.count)
        var worst: Float = 0
        for (got, pair) in zip(logits, expected.pairs) {
            #expect(got.count == 1)
            worst = max(worst, abs(got[0] - pair.logit))
        }
        #expect(worst <= Self.logitTolerance, "max |Δlogit| = \(worst)")
    }

    @Test func paddingDoesNotChangeAnyPairsLogit() throws {
        let model = try BERTModel(directory: Self.tinyCross)
        let expected = try Self.decode(CrossExpected.self, Self.tinyCross.appendingPathComponent("expected.json"))
        let batched = try model.classify(try BERTBatch(sequences: expected.pairs.map(\.input_ids),
                                                       tokenTypes: expected.pairs.map(\.token_type_ids)))
        for (i, pair) in expected.pairs.enumerated() {
            let alone = try model.classify(try BERTBatch(sequences: [pair.input_ids], tokenTypes: [pair.token_type_ids]))
            #expect(abs(alone[0][0] - batched[i][0]) <= 1e-5)
            #expect(abs(alone[0][0] - pair.logit) <= Self.logitTolerance)
        }
    }

    /// The weight table is the checkpoint's names: every tensor of a
    /// BertForSequenceClassification save, by name and shape, and no other.
    @Test func weightTableNamesEveryCheckpointTensor() throws {
        let model = try BERTModel(directory: Self.tinyCross)
        let checkpoint = try SafeTensors(contentsOf: Self.tinyCross.appendingPathComponent("model.safetensors"))
        let table = model.layout.entries
        #expect(Set(table.map(\.name)) == Set(checkpoint.names.filter { !$0.hasSuffix("position_ids") }))
        #expect(table.count == Set(table.map(\.name)).count)
        for entry in table {
            let tensor = try checkpoint.tensor(named: entry.name)
            #expect(tensor.shape == entry.shape, "\(entry.name)")
            #expect(Array(try #require(model.weight(entry.name))) == tensor.data, "\(entry.name)")
        }
        // Back to back, query/key/value adjacent: what the forward's one (3H, H) product reads.
        #expect(model.values.count == model.layout.count)
        let H = model.configuration.hiddenSize
        for (i, layer) in model.layout.layers.enumerated() {
            let names = table.filter { $0.name.hasPrefix("bert.encoder.layer.\(i).attention.self.") }
            #expect(names.map(\.offset) == [0, 1, 2].map { layer.qkvWeight + $0 * H * H } + [0, 1, 2].map { layer.qkvBias + $0 * H })
        }
    }

    /// A bare BertModel (no `bert.` prefix, no head) loads under the same table minus the head.
    @Test func bareEncoderLoadsWithoutPrefixOrHead() throws {
        let full = try BERTModel(directory: Self.tinyCross)
        let checkpoint = try SafeTensors(contentsOf: Self.tinyCross.appendingPathComponent("model.safetensors"))
        let bare = try BERTModel(configuration: full.configuration, file: "bare") { name in
            let key = "bert." + name
            guard name.hasPrefix("embeddings.") || name.hasPrefix("encoder.") else { return nil }
            return try checkpoint.tensor(named: key)
        }
        #expect(bare.pooler == nil && bare.classifier == nil)
        #expect(bare.values == Array(full.values[0..<bare.layout.count]))
        #expect(throws: ModelsError.self) { try bare.classify(try BERTBatch(sequences: [[1, 2, 3]])) }
    }

    @Test func registryLoadsBertByModelType() throws {
        #expect(try ModelRegistry.architecture(at: Self.tinyCross) == "bert")
        let entry = try ModelRegistry.entry(at: Self.tinyCross)
        #expect(entry.family == .encoder)
        #expect(try entry.load(Self.tinyCross) is BERTModel)
    }

    @Test func flopsCountMatchesTheArchitecture() throws {
        let model = try BERTModel(directory: Self.tinyCross)
        // 2 layers, H 32, I 64, n 10: linear 2·10·(4·32² + 2·32·64) = 163_840; attention 4·10²·32 = 12_800.
        #expect(model.flops(sequenceLengths: [10]) == 2 * (163_840 + 12_800))
    }

    // MARK: bad checkpoints and input

    static func tinyTensors() throws -> [String: Tensor] {
        let checkpoint = try SafeTensors(contentsOf: tinyCross.appendingPathComponent("model.safetensors"))
        var all = [String: Tensor]()
        for name in checkpoint.names { all[name] = try checkpoint.tensor(named: name) }
        return all
    }

    @Test func missingTensorIsNamed() throws {
        let config = try BERTConfiguration.load(from: Self.tinyCross.appendingPathComponent("config.json"))
        var tensors = try Self.tinyTensors()
        tensors["bert.encoder.layer.1.attention.self.key.bias"] = nil
        #expect(throws: ModelsError.missingTensor(name: "bert.encoder.layer.1.attention.self.key.bias", file: "x.safetensors")) {
            try BERTModel(configuration: config, file: "x.safetensors") { tensors[$0] }
        }
    }

    @Test func shapeMismatchIsNamed() throws {
        let config = try BERTConfiguration.load(from: Self.tinyCross.appendingPathComponent("config.json"))
        var tensors = try Self.tinyTensors()
        tensors["bert.encoder.layer.0.intermediate.dense.weight"] = Tensor(zeros: [64, 31])
        #expect(throws: ModelsError.shapeMismatch(tensor: "bert.encoder.layer.0.intermediate.dense.weight",
                                                  expected: [64, 32], actual: [64, 31], file: "x.safetensors")) {
            try BERTModel(configuration: config, file: "x.safetensors") { tensors[$0] }
        }
    }

    @Test func unknownArchitectureAndActivationAreRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bert-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data(#"{"model_type": "roberta-ish"}"#.utf8).write(to: config)
        #expect(throws: ModelsError.unknownArchitecture(name: "roberta-ish", file: config.path,
                                                        supported: ModelRegistry.architectures.keys.sorted())) {
            try ModelRegistry.entry(at: dir)
        }
        try Data(#"{"model_type": "bert", "hidden_act": "relu"}"#.utf8).write(to: config)
        #expect(throws: ModelsError.unsupported(key: "hidden_act", value: "relu", file: config.path)) {
            try BERTConfiguration.load(from: config)
        }
    }

    @Test func badBatchesAreErrors() throws {
        let model = try BERTModel(directory: Self.tinyCross)
        #expect(throws: ModelsError.self) { try model.classify(try BERTBatch(sequences: [[2, 999, 3]])) }
        #expect(throws: ModelsError.self) { try model.classify(try BERTBatch(sequences: [[]])) }
        #expect(throws: ModelsError.self) {
            try model.classify(try BERTBatch(inputIDs: [2, 5, 3], attentionMask: [1, 0, 1], batchSize: 1, sequenceLength: 3))
        }
        #expect(throws: ModelsError.sequenceTooLong(length: 129, maximum: 128)) {
            try model.classify(try BERTBatch(sequences: [[Int32](repeating: 5, count: 129)]))
        }
        #expect(try model.classify(try BERTBatch(sequences: [])).isEmpty)
    }

    // MARK: MiniLM (real model)

    @Test(.enabled(if: Assets.enabled(Assets.minilm)))
    func miniLMEmbeddingsMatchSentenceTransformers() throws {
        let model = try BERTModel(directory: Assets.minilm)
        let expected = try Self.decode(MiniLMExpected.self, Self.fixtures.appendingPathComponent("minilm_embeddings.json"))
        #expect(expected.texts.count == 200)
        var minCosine: Float = 1, maxDiff: Float = 0
        let batchSize = 16
        for start in stride(from: 0, to: expected.input_ids.count, by: batchSize) {
            let end = min(start + batchSize, expected.input_ids.count)
            let got = try model.meanPooled(try BERTBatch(sequences: Array(expected.input_ids[start..<end])))
            for (i, g) in got.enumerated() {
                let want = expected.embeddings[start + i]
                let c = Self.cosine(g, want)
                #expect(c >= Self.minimumCosine, "text \(start + i): cosine \(c)")
                minCosine = min(minCosine, c)
                for j in g.indices { maxDiff = max(maxDiff, abs(g[j] - want[j])) }
            }
        }
        #expect(maxDiff <= Self.embeddingTolerance, "max |Δ| = \(maxDiff)")
        print("MiniLM parity: min cosine \(minCosine), max |Δ| \(maxDiff)")
    }
}
