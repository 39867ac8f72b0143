import Foundation
import Testing
import TestSupport
@testable import LimRankCLI

/// What `synthesize` uses when the user names no embedder.
@Suite struct SynthesizeDefaultsTests {
    @Test func hashingWhenMiniLMIsNotInstalled() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(SynthesisBackendFactory.defaultEmbedder(environment: ["LIMRANK_MODELS": empty.path]) == "hashing")
    }

    @Test(.enabled(if: Assets.enabled(Assets.minilm)))
    func miniLMWhenInstalled() {
        #expect(SynthesisBackendFactory.defaultEmbedder(environment: ["LIMRANK_MODELS": Assets.modelsDirectory.path]) == "minilm")
    }

    @Test func aConfigNamingAnEmbedderKeepsIt() throws {
        let named = try temporaryFile("named.json", #"{"target": 5, "embedder": "hashing"}"#)
        let unnamed = try temporaryFile("unnamed.json", #"{"target": 5}"#)
        #expect(SynthesizeRun.configSetsEmbedder(named.path))
        #expect(!SynthesizeRun.configSetsEmbedder(unnamed.path))
        #expect(!SynthesizeRun.configSetsEmbedder(nil))
    }
}
