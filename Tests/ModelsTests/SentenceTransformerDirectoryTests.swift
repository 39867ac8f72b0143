import Foundation
import Testing
import TestSupport
@testable import Models

@Suite struct SentenceTransformerDirectoryTests {
    static func directory(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-st-\(UUID().uuidString)")
        for (path, text) in files {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir
    }

    static let legacyModules = """
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
         {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
        """

    /// The directory the issue reports `limrank embed` refusing: 6.x's pooling config.
    @Test func sentenceTransformers6Directory() throws {
        let dir = try Self.directory([
            "modules.json": Self.legacyModules.replacingOccurrences(of: "sentence_transformers.models.", with: "sentence_transformers.sentence_transformer.modules."),
            "1_Pooling/config.json": #"{"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": true}"#,
            "sentence_bert_config.json": #"{"max_seq_length": 128, "do_lower_case": false}"#,
        ])
        let config = try SentenceTransformerDirectory(directory: dir)
        #expect(config.pooling.modes == [.mean] && config.pooling.embeddingDimension == 384)
        #expect(config.normalize && config.maxSequenceLength == 128)
        // 6.x writes no max_seq_length there: it is the tokenizer's model_max_length.
        let saved6 = try Self.directory([
            "modules.json": Self.legacyModules,
            "1_Pooling/config.json": #"{"embedding_dimension": 384, "pooling_mode": "mean"}"#,
            "sentence_bert_config.json": #"{"transformer_task": "feature-extraction"}"#,
            "tokenizer_config.json": #"{"model_max_length": 200, "max_length": 128}"#,
        ])
        #expect(try SentenceTransformerDirectory(directory: saved6).maxSequenceLength == 200)
        // Tokenizers without a real limit write 1e30: no limit from there.
        let huge = try Self.directory([
            "modules.json": Self.legacyModules,
            "1_Pooling/config.json": #"{"pooling_mode": "mean"}"#,
            "tokenizer_config.json": #"{"model_max_length": 1000000000000000019884624838656}"#,
        ])
        #expect(try SentenceTransformerDirectory(directory: huge).maxSequenceLength == nil)
    }

    @Test func legacyDirectoryAndModeLists() throws {
        let legacy = try Self.directory([
            "modules.json": Self.legacyModules,
            "1_Pooling/config.json": #"{"word_embedding_dimension": 8, "pooling_mode_cls_token": false, "pooling_mode_max_tokens": true, "pooling_mode_mean_tokens": true}"#,
        ])
        let config = try SentenceTransformerDirectory(directory: legacy)
        // Upstream concatenates in its fixed order: max before mean.
        #expect(config.pooling.modes == [.max, .mean] && config.pooling.embeddingDimension == 8)
        // No mode switched on means mean, as upstream converts it.
        let none = try Self.directory(["modules.json": Self.legacyModules, "1_Pooling/config.json": #"{"word_embedding_dimension": 8}"#])
        #expect(try SentenceTransformerDirectory(directory: none).pooling.modes == [.mean])
        let list = try Self.directory([
            "modules.json": Self.legacyModules.replacingOccurrences(of: "sentence_transformers.models.", with: "sentence_transformers.sentence_transformer.modules."),
            "1_Pooling/config.json": #"{"embedding_dimension": 8, "pooling_mode": ["cls", "lasttoken"]}"#,
        ])
        #expect(try SentenceTransformerDirectory(directory: list).pooling.modes == [.cls, .lastToken])
    }

    @Test func withoutNormalizeOrModules() throws {
        let plain = try Self.directory([
            "modules.json": #"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
            "1_Pooling/config.json": #"{"embedding_dimension": 8, "pooling_mode": "cls"}"#,
        ])
        let config = try SentenceTransformerDirectory(directory: plain)
        #expect(!config.normalize && config.pooling.modes == [.cls])
        // A bare checkpoint keeps LimRank's earlier behaviour: mean, normalised.
        let bare = try SentenceTransformerDirectory(directory: try Self.directory(["config.json": "{}"]))
        #expect(bare.normalize && bare.pooling.modes == [.mean] && bare.maxSequenceLength == nil)
    }

    @Test func clearRefusals() throws {
        let unknownMode = try Self.directory(["modules.json": Self.legacyModules, "1_Pooling/config.json": #"{"pooling_mode": "median"}"#])
        do {
            _ = try SentenceTransformerDirectory(directory: unknownMode)
            Issue.record("an unknown pooling mode was accepted")
        } catch let error as ModelsError {
            #expect(error.description.contains("median") && error.description.contains("1_Pooling/config.json"))
        }
        let dense = try Self.directory([
            "modules.json": Self.legacyModules.replacingOccurrences(of: "models.Normalize", with: "models.Dense"),
            "1_Pooling/config.json": #"{"pooling_mode": "mean"}"#,
        ])
        do {
            _ = try SentenceTransformerDirectory(directory: dense)
            Issue.record("a Dense module was accepted")
        } catch let error as ModelsError {
            #expect(error.description.contains("Dense") && error.description.contains("modules.json"))
        }
        let missing = try Self.directory(["modules.json": Self.legacyModules])
        #expect(throws: ModelsError.self) { try SentenceTransformerDirectory(directory: missing) }
    }

    /// Two sequences of a 2-wide hidden state, worked out by hand:
    /// seq A tokens (1, 2), (3, -4), (5, 0); seq B token (7, 8).
    @Test func poolingByHand() {
        let states = BERTHiddenStates(hidden: [1, 2, 3, -4, 5, 0, 7, 8], sequences: [0..<3, 3..<4], hiddenSize: 2)
        func pooled(_ modes: [SentenceTransformerPoolingMode]) -> [[Float]] {
            SentenceTransformerPoolingConfig(modes: modes).pool(states)
        }
        #expect(pooled([.cls]) == [[1, 2], [7, 8]])
        #expect(pooled([.lastToken]) == [[5, 0], [7, 8]])
        #expect(pooled([.max]) == [[5, 2], [7, 8]])
        #expect(pooled([.mean]) == [[3, -2 / 3], [7, 8]])
        // sum (9, -2) / sqrt(3)
        let sqrt3 = Float(3).squareRoot()
        #expect(pooled([.meanSqrtLenTokens]) == [[9 / sqrt3, -2 / sqrt3], [7, 8]])
        // weights 1, 2, 3: (1 + 6 + 15, 2 - 8 + 0) / 6
        #expect(pooled([.weightedMean]) == [[22 / 6, -6 / 6], [7, 8]])
        #expect(pooled([.cls, .max]) == [[1, 2, 5, 2], [7, 8, 7, 8]])
    }

    // MARK: sentence-transformers parity (real MiniLM)

    static let minimumCosine: Float = 0.99999

    struct Expected: Decodable {
        var texts: [String]
        var cases: [String: [[Float]]]
    }

    /// Each fixture case directory (its small config files from
    /// Scripts/fixtures/sentence_transformers_pooling.py) completed with the
    /// installed MiniLM's weights and tokenizer.
    static func assemble(_ name: String) throws -> URL {
        let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("st-pooling/\(name)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-st-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixture, to: dir)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"] {
            let source = Assets.minilm.appendingPathComponent(file)
            let target = dir.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: source.path), !FileManager.default.fileExists(atPath: target.path) {
                try FileManager.default.createSymbolicLink(at: target, withDestinationURL: source)
            }
        }
        return dir
    }

    @Test(.enabled(if: Assets.enabled(Assets.minilm)))
    func everyPoolingModeMatchesSentenceTransformers() async throws {
        let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("st-pooling")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("expected.json")))
        #expect(expected.cases.count >= 8)
        for (name, vectors) in expected.cases.sorted(by: { $0.key < $1.key }) {
            let encoder = try BERTSentenceEncoder(directory: try Self.assemble(name))
            let got = try await encoder.embed(expected.texts)
            var worst: Float = 1
            for (g, want) in zip(got, vectors) {
                #expect(g.count == want.count, "\(name): dimension \(g.count) vs \(want.count)")
                let dot = zip(g, want).reduce(0) { $0 + $1.0 * $1.1 }
                let norms = g.reduce(0) { $0 + $1 * $1 }.squareRoot() * want.reduce(0) { $0 + $1 * $1 }.squareRoot()
                worst = min(worst, dot / norms)
                // The norm must agree too (cosine alone cannot see a missing Normalize or sqrt).
                let ratio = g.reduce(0) { $0 + $1 * $1 }.squareRoot() / want.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(abs(ratio - 1) < 1e-4, "\(name): norm ratio \(ratio)")
            }
            #expect(worst >= Self.minimumCosine, "\(name): cosine \(worst)")
            print("pooling \(name): min cosine \(worst)")
        }
    }
}
