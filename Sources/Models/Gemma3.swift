import Foundation
import ModelFormats
import Tensor

// Gemma 3 (transformers' Gemma3ForCausalLM, `model_type` "gemma3_text";
// llama.cpp's `gemma3`): the Llama network of Llama.swift with these options
// of its one layer forward, set here from the checkpoint:
// - per-head RMSNorm of queries and keys (as Qwen3), and two more norms per
//   layer, of the attention output and of the MLP output, before each joins
//   the residual stream (4 norms a layer, plus the final one);
// - GeGLU: gelu_pytorch_tanh(gate) · up;
// - embedding rows multiplied by sqrt(hidden_size) (in f32, as transformers
//   does for an f32 model);
// - attention scores scaled by query_pre_attn_scalar^-1/2;
// - sliding-window ("local") layers that see only the last `sliding_window`
//   positions and use their own RoPE base (10000), with every
//   `sliding_window_pattern`-th layer global (layer i global iff
//   (i + 1) % 6 == 0, as transformers and llama.cpp lay them out);
// - tied embeddings; no logit soft-capping (Gemma 2's; null in Gemma 3).
//
// Norm weights: transformers' Gemma RMSNorm scales by (1 + w) and its
// safetensors store w; llama.cpp's converter writes w + 1 into the GGUF. So
// safetensors norms get 1 added as they are read, and both sources run the
// plain x · w of the one path.

/// Mirrors a Gemma 3 text `config.json` (transformers' `Gemma3TextConfig`).
public struct Gemma3Configuration: Decodable, Sendable, Equatable {
    /// The keys Gemma 3 shares with Llama, with the Gemma options filled in.
    public var base: LlamaConfiguration
    public var finalLogitSoftcapping: Float?
    public var attentionLogitSoftcapping: Float?
    public var useBidirectionalAttention: Bool
    /// `rope_type` of the global layers (only "default" is implemented).
    public var globalRopeType: String

    /// transformers' default `sliding_window_pattern`; llama.cpp's `set_swa_pattern(6)`.
    public static let slidingWindowPattern = 6
    /// transformers' `rope_local_base_freq`; llama.cpp's `rope_freq_base_train_swa`.
    public static let localRopeTheta: Float = 10000

    enum CodingKeys: String, CodingKey {
        case hiddenActivation = "hidden_activation"
        case hiddenAct = "hidden_act"
        case queryPreAttnScalar = "query_pre_attn_scalar"
        case slidingWindow = "sliding_window"
        case slidingWindowPattern = "sliding_window_pattern"
        case privateSlidingWindowPattern = "_sliding_window_pattern"
        case layerTypes = "layer_types"
        case ropeLocalBaseFreq = "rope_local_base_freq"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case finalLogitSoftcapping = "final_logit_softcapping"
        case attnLogitSoftcapping = "attn_logit_softcapping"
        case useBidirectionalAttention = "use_bidirectional_attention"
    }

    /// transformers ≥ 5: `rope_parameters` per layer type.
    struct RopeByLayerType: Decodable {
        var full: LlamaConfiguration.RopeParameters?
        var sliding: LlamaConfiguration.RopeParameters?
        enum CodingKeys: String, CodingKey {
            case full = "full_attention"
            case sliding = "sliding_attention"
        }
    }

    public init(from decoder: Decoder) throws {
        base = try LlamaConfiguration(from: decoder, defaultModelType: "gemma3_text", defaultTheta: 1_000_000, defaultTied: true)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let activation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation)
        let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct)
        base.hiddenAct = activation ?? act ?? "gelu_pytorch_tanh"
        base.embeddingScale = Float(base.hiddenSize).squareRoot()
        base.queryPreAttentionScalar = try c.decodeIfPresent(Float.self, forKey: .queryPreAttnScalar) ?? 256
        base.slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow) ?? 4096
        let byType = try? c.decodeIfPresent(RopeByLayerType.self, forKey: .ropeParameters)
        if let full = byType?.full {
            base.ropeTheta = full.ropeTheta ?? base.ropeTheta
            globalRopeType = full.ropeType ?? "default"
        } else {
            let scaling = try? c.decodeIfPresent(LlamaConfiguration.RopeParameters.self, forKey: .ropeScaling)
            globalRopeType = scaling?.ropeType ?? "default"
        }
        base.ropeType = "default"
        let localBase = try c.decodeIfPresent(Float.self, forKey: .ropeLocalBaseFreq)
        base.localRopeTheta = byType?.sliding?.ropeTheta ?? localBase ?? Gemma3Configuration.localRopeTheta
        if let types = try c.decodeIfPresent([String].self, forKey: .layerTypes) {
            base.slidingLayers = types.map { $0 == "sliding_attention" }
        } else {
            let declared = try c.decodeIfPresent(Int.self, forKey: .slidingWindowPattern)
            let saved = try c.decodeIfPresent(Int.self, forKey: .privateSlidingWindowPattern)
            let pattern = declared ?? saved ?? Gemma3Configuration.slidingWindowPattern
            base.slidingLayers = Gemma3Configuration.slidingLayers(count: base.numHiddenLayers, pattern: pattern)
        }
        finalLogitSoftcapping = try c.decodeIfPresent(Float.self, forKey: .finalLogitSoftcapping)
        attentionLogitSoftcapping = try c.decodeIfPresent(Float.self, forKey: .attnLogitSoftcapping)
        useBidirectionalAttention = try c.decodeIfPresent(Bool.self, forKey: .useBidirectionalAttention) ?? false
    }

    /// Layer i is local unless (i + 1) is a multiple of `pattern`.
    public static func slidingLayers(count: Int, pattern: Int) -> [Bool] {
        (0..<count).map { pattern <= 0 || ($0 + 1) % pattern != 0 }
    }

    public static func load(from url: URL) throws -> Gemma3Configuration {
        try decodeConfiguration(Gemma3Configuration.self, from: url)
    }

    public func validate(file: String) throws {
        guard base.modelType == "gemma3_text" else {
            throw ModelsError.unknownArchitecture(name: base.modelType, file: file, supported: ["gemma3_text"])
        }
        if let v = finalLogitSoftcapping { throw ModelsError.unsupported(key: "final_logit_softcapping", value: "\(v)", file: file) }
        if let v = attentionLogitSoftcapping { throw ModelsError.unsupported(key: "attn_logit_softcapping", value: "\(v)", file: file) }
        guard !useBidirectionalAttention else {
            throw ModelsError.unsupported(key: "use_bidirectional_attention", value: "true", file: file)
        }
        guard globalRopeType == "default" else { throw ModelsError.unsupported(key: "rope_type", value: globalRopeType, file: file) }
        try base.validate(file: file)
    }

    /// The Gemma 3 keys of a `gemma3` GGUF (`gemma3.*`) added to the
    /// configuration LlamaModel(gguf:) read from the shared ones.
    static func readGGUF(_ m: GGUFMetadata, into config: inout LlamaConfiguration, file: String) throws {
        config.hiddenAct = "gelu_pytorch_tanh"
        config.embeddingScale = Float(config.hiddenSize).squareRoot()
        // llama.cpp: 1/sqrt(n_embd_head_k), but 1/sqrt(n_embd / n_head) for the 27B (62 layers).
        config.queryPreAttentionScalar = config.numHiddenLayers == 62
            ? Float(config.hiddenSize / config.numAttentionHeads) : Float(config.headDim)
        config.slidingWindow = try m.int("gemma3.attention.sliding_window")
        config.slidingLayers = slidingLayers(count: config.numHiddenLayers, pattern: slidingWindowPattern)
        config.localRopeTheta = localRopeTheta
        config.tieWordEmbeddings = true
        for key in ["gemma3.final_logit_softcapping", "gemma3.attn_logit_softcapping"] where m.contains(key) {
            throw ModelsError.unsupported(key: key, value: "\(try m.float(key))", file: file)
        }
        let valueLength = try m.int("gemma3.attention.value_length", default: config.headDim)
        guard valueLength == config.headDim else {
            throw ModelsError.unsupported(key: "gemma3.attention.value_length", value: "\(valueLength) (≠ key_length)", file: file)
        }
    }
}

extension LlamaWeightNames {
    /// transformers' Gemma 3 names: its `post_attention_layernorm` is the norm
    /// of the attention output, `pre_feedforward_layernorm` the one before the MLP.
    public static let gemma3HuggingFace = LlamaWeightNames(
        embeddings: "model.embed_tokens.weight", finalNorm: "model.norm.weight", outputHead: "lm_head.weight"
    ) { i, part in
        switch part {
        case .postNorm: return "model.layers.\(i).pre_feedforward_layernorm.weight"
        case .attentionOutputNorm: return "model.layers.\(i).post_attention_layernorm.weight"
        case .feedForwardOutputNorm: return "model.layers.\(i).post_feedforward_layernorm.weight"
        default: return LlamaWeightNames.huggingFace.layer(i, part)
        }
    }
}

extension LlamaModel {
    /// A Gemma 3 checkpoint directory: config.json + model.safetensors.
    public init(gemma3 directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try Gemma3Configuration.load(from: configURL)
        try config.validate(file: configURL.path)
        var source = try LlamaModel.safetensorsSource(directory: directory)
        source.names = .gemma3HuggingFace
        // transformers' Gemma RMSNorm scales by (1 + w): the one path's x · w needs w + 1.
        let stored = source.vector
        source.vector = { name in
            guard let v = try stored(name) else { return nil }
            return name.hasSuffix("norm.weight") ? v.map { $0 + 1 } : v
        }
        try self.init(configuration: config.base, options: Options(ropeLayout: .neox, architecture: "gemma3"),
                      requirements: Requirements(qkvBias: config.base.attentionBias, qkNorm: true, outputNorms: true),
                      source: source)
    }
}
