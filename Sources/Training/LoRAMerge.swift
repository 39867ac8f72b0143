import Foundation
import ModelFormats
import Models
import Tensor

extension LlamaTrainingWeights {
    /// Writes base + (alpha/r)·B·A as an f32 safetensors checkpoint with
    /// transformers' names (model.safetensors) and its config.json, loadable by
    /// `LlamaForCausalLM`/`Qwen2ForCausalLM`/`Qwen3ForCausalLM`/
    /// `Gemma3ForCausalLM.from_pretrained` and by limrank as a directory model.
    /// Q/K rows are already in HF order. The tokenizer is not written (a GGUF
    /// base keeps it in the GGUF).
    public static func writeMerged(_ weights: LlamaTrainingWeights, adapter: LoRAAdapter, to directory: URL) throws {
        let c = weights.configuration
        let gemma = c.embeddingScale != nil
        guard gemma || (c.slidingLayers.isEmpty && c.hiddenAct == "silu") else {
            throw TrainingError.unsupportedModel("\(c.modelType): merging needs a Llama, Qwen2, Qwen3 or Gemma 3 model")
        }
        try adapter.validate(against: c, file: "adapter")
        let names = gemma ? LlamaWeightNames.gemma3HuggingFace : LlamaWeightNames.huggingFace
        var deltas: [String: [Float]] = [:]
        for p in adapter.pairs { deltas[names.layer(p.layer, .init(p.target))] = adapter.delta(p) }
        var tensors: [(name: String, tensor: Tensor)] = []
        func add(_ name: String, _ b: FloatBuffer, _ shape: [Int]) {
            var data = b.array
            if let d = deltas[name] { for i in 0..<data.count { data[i] += d[i] } }
            // The one forward scales by the stored vector; transformers' Gemma
            // RMSNorm by (1 + w) and its checkpoints store w (the loader adds the 1).
            if gemma && name.hasSuffix("norm.weight") { data = data.map { $0 - 1 } }
            tensors.append((name, Tensor(shape: shape, data: data)))
        }
        add(names.embeddings, weights.embeddings, [c.vocabSize, c.hiddenSize])
        for (i, l) in weights.layers.enumerated() {
            for part in LlamaWeightNames.Part.allCases {
                if let v = l.vector(part) { add(names.layer(i, part), v, [v.count]) }
            }
            for t in LoRATarget.allCases {
                let w = l.projection(t)
                add(names.layer(i, .init(t)), w.weight, [w.outFeatures, w.inFeatures])
            }
        }
        add(names.finalNorm, weights.finalNorm, [c.hiddenSize])
        if let head = weights.outputHead { add(names.outputHead, head, [c.vocabSize, c.hiddenSize]) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        let architecture = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"][c.modelType] ?? "LlamaForCausalLM"
        var config: [String: Any] = [
            "architectures": [gemma ? "Gemma3ForCausalLM" : architecture], "model_type": gemma ? "gemma3_text" : c.modelType,
            "vocab_size": c.vocabSize,
            "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize, "num_hidden_layers": c.numHiddenLayers,
            "num_attention_heads": c.numAttentionHeads, "num_key_value_heads": c.numKeyValueHeads, "head_dim": c.headDim,
            "max_position_embeddings": c.maxPositionEmbeddings, "rms_norm_eps": Double(c.rmsNormEps),
            "rope_theta": Double(c.ropeTheta), "tie_word_embeddings": weights.outputHead == nil,
            "attention_bias": weights.layers.first?.queryBias != nil && c.modelType != "qwen2", "hidden_act": "silu",
            "torch_dtype": "float32",
        ]
        if gemma {
            // transformers' Gemma3TextConfig keys (both the ≤ 4.x `rope_theta` /
            // `rope_local_base_freq` and 5.x's `rope_parameters` per layer type).
            config["hidden_act"] = nil
            config["hidden_activation"] = c.hiddenAct
            config["query_pre_attn_scalar"] = Double(c.queryPreAttentionScalar ?? Float(c.headDim))
            config["sliding_window"] = c.slidingWindow
            config["layer_types"] = c.slidingLayers.map { $0 ? "sliding_attention" : "full_attention" }
            let local = Double(c.localRopeTheta ?? c.ropeTheta)
            config["rope_local_base_freq"] = local
            config["rope_parameters"] = ["full_attention": ["rope_type": "default", "rope_theta": Double(c.ropeTheta)],
                                         "sliding_attention": ["rope_type": "default", "rope_theta": local]]
        }
        if let bos = c.bosTokenId { config["bos_token_id"] = bos }
        if let eos = c.eosTokenIds.first { config["eos_token_id"] = c.eosTokenIds.count == 1 ? eos : c.eosTokenIds }
        try SafeTensorsWriter.writeAtomically(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                                              to: directory.appendingPathComponent("config.json"))
    }
}
