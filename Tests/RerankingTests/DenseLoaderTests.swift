import Foundation
import Testing
import TestSupport
import LanguageModels

/// The dense reranker, serve and synthesis embed through `NativeEncoder`; it
/// must read a directory's pooling and Normalize as `limrank embed` does
/// (before, it mean-pooled and normalised whatever the directory said).
/// Same fixtures as Tests/ModelsTests/SentenceTransformerDirectoryTests.
@Suite struct DenseLoaderTests {
    static let fixtures = Assets.repoRoot.appendingPathComponent("Tests/ModelsTests/Fixtures/st-pooling")

    struct Expected: Decodable {
        var texts: [String]
        var cases: [String: [[Float]]]
    }

    static func assemble(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-dense-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent(name), to: dir)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"] {
            let source = Assets.minilm.appendingPathComponent(file), target = dir.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: source.path), !FileManager.default.fileExists(atPath: target.path) {
                try FileManager.default.createSymbolicLink(at: target, withDestinationURL: source)
            }
        }
        return dir
    }

    @Test(.enabled(if: Assets.enabled(Assets.minilm)))
    func nativeEncoderFollowsThePoolingConfig() async throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        for name in ["cls", "mean_sqrt_len_tokens", "cls+mean"] {
            let encoder = try NativeEncoder(directory: try Self.assemble(name))
            let got = try await encoder.embed(expected.texts)
            let want = try #require(expected.cases[name])
            #expect(encoder.dimension == want[0].count)
            for (g, w) in zip(got, want) {
                let dot = zip(g, w).reduce(0) { $0 + $1.0 * $1.1 }
                let ng = g.reduce(0) { $0 + $1 * $1 }.squareRoot(), nw = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(dot / (ng * nw) >= 0.99999, "\(name): cosine \(dot / (ng * nw))")
                #expect(abs(ng / nw - 1) < 1e-4, "\(name): norm \(ng) vs \(nw)")
            }
        }
    }
}
