import Foundation
import Tensor

// Qwen2 (transformers' Qwen2ForCausalLM): the Llama network with biases on
// the query, key and value projections, RoPE theta 1e6 by default and
// optionally tied embeddings. The blocks are Llama.swift's; this file holds
// the configuration and how a checkpoint becomes a `LlamaModel`.

/// Mirrors a Qwen2 `config.json` (transformers' `Qwen2Config` defaults).
public struct Qwen2Configuration: Decodable, Sendable, Equatable {
    /// The keys Qwen2 shares with Llama.
    public var base: LlamaConfiguration
    public var useSlidingWindow: Bool

    enum CodingKeys: String, CodingKey {
        case useSlidingWindow = "use_sliding_window"
    }

    public init(from decoder: Decoder) throws {
        base = try LlamaConfiguration(from: decoder, defaultModelType: "qwen2", defaultTheta: 1_000_000, defaultTied: false)
        // Qwen2's q/k/v projections always carry biases (there is no attention_bias key).
        base.attentionBias = true
        let c = try decoder.container(keyedBy: CodingKeys.self)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
    }

    public static func load(from url: URL) throws -> Qwen2Configuration {
        try decodeConfiguration(Qwen2Configuration.self, from: url)
    }

    public func validate(file: String) throws {
        guard base.modelType == "qwen2" else {
            throw ModelsError.unknownArchitecture(name: base.modelType, file: file, supported: ["qwen2"])
        }
        // Sliding-window attention changes which keys are visible; not implemented.
        guard !useSlidingWindow else { throw ModelsError.unsupported(key: "use_sliding_window", value: "true", file: file) }
        try base.validate(file: file)
    }
}

extension LlamaModel {
    /// A Qwen2 checkpoint directory: config.json + model.safetensors.
    public init(qwen2 directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try Qwen2Configuration.load(from: configURL)
        try config.validate(file: configURL.path)
        try self.init(configuration: config.base, options: Options(ropeLayout: .neox, architecture: "qwen2"),
                      requirements: Requirements(qkvBias: true, qkNorm: false),
                      source: try LlamaModel.safetensorsSource(directory: directory))
    }
}
