import Foundation
import Tensor

// Qwen3 (transformers' Qwen3ForCausalLM): the Llama network with an RMSNorm
// over each head of the queries and keys (before RoPE) and an explicit
// head_dim. The blocks are Llama.swift's; this file holds the configuration
// and how a checkpoint becomes a `LlamaModel`.

/// Mirrors a Qwen3 `config.json` (transformers' `Qwen3Config` defaults).
public struct Qwen3Configuration: Decodable, Sendable, Equatable {
    /// The keys Qwen3 shares with Llama (`head_dim`, `attention_bias` included).
    public var base: LlamaConfiguration
    public var useSlidingWindow: Bool

    enum CodingKeys: String, CodingKey {
        case useSlidingWindow = "use_sliding_window"
    }

    public init(from decoder: Decoder) throws {
        base = try LlamaConfiguration(from: decoder, defaultModelType: "qwen3", defaultTheta: 1_000_000, defaultTied: true)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
    }

    public static func load(from url: URL) throws -> Qwen3Configuration {
        try decodeConfiguration(Qwen3Configuration.self, from: url)
    }

    public func validate(file: String) throws {
        guard base.modelType == "qwen3" else {
            throw ModelsError.unknownArchitecture(name: base.modelType, file: file, supported: ["qwen3"])
        }
        guard !useSlidingWindow else { throw ModelsError.unsupported(key: "use_sliding_window", value: "true", file: file) }
        try base.validate(file: file)
    }
}

extension LlamaModel {
    /// A Qwen3 checkpoint directory: config.json + model.safetensors.
    public init(qwen3 directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try Qwen3Configuration.load(from: configURL)
        try config.validate(file: configURL.path)
        try self.init(configuration: config.base, options: Options(ropeLayout: .neox, architecture: "qwen3"),
                      requirements: Requirements(qkvBias: config.base.attentionBias, qkNorm: true),
                      source: try LlamaModel.safetensorsSource(directory: directory))
    }
}
