import Foundation
import ModelFormats
import Tensor

// Llama-family decoder (transformers' LlamaForCausalLM; SmolLM2 is one),
// ordered config -> blocks -> model -> weight loading.
//
// Qwen2 and Qwen3 are this same network with one switch each (QKV biases;
// per-head RMSNorm of queries and keys), so Qwen2.swift and Qwen3.swift hold
// only their configurations and weight-key mapping and build a `LlamaModel`
// with `LlamaModel.Options`. Gemma 3 (Gemma3.swift) adds options of the
// same path: norms of the attention and MLP outputs, GeGLU, a scaled
// embedding, its own attention scale, and sliding-window layers with their
// own RoPE base. Repeating ~300 lines of identical attention,
// MLP and cache code three times would only let the copies drift apart.
//
// Weights are `QuantizedMatrix`es: a GGUF's tensors stay in their ggml
// encoding inside the memory-mapped file (so resident memory stays near the
// file size), and safetensors weights are f32 matrices of the same type.
// Activations are always f32: a prompt of n tokens runs every projection as
// one [n, in] x [in, out] product (dequantised tiles + sgemm), a single
// decode step as direct quantised row dots.

// MARK: - Configuration

/// Mirrors a Llama `config.json` (transformers' `LlamaConfig` defaults for absent keys).
public struct LlamaConfiguration: Decodable, Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var hiddenAct: String
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    /// Gemma: the embedding rows are multiplied by this (sqrt(hidden_size)); nil: not scaled.
    public var embeddingScale: Float? = nil
    /// Gemma's `query_pre_attn_scalar`: scores are scaled by its -1/2 power
    /// instead of head_dim's; nil: head_dim.
    public var queryPreAttentionScalar: Float? = nil
    /// Gemma 3's local attention: `slidingWindow` keys (the own position
    /// included) for the layers flagged in `slidingLayers`, whose RoPE base
    /// is `localRopeTheta`. Empty flags: every layer is global.
    public var slidingWindow: Int? = nil
    public var slidingLayers: [Bool] = []
    public var localRopeTheta: Float? = nil

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case hiddenAct = "hidden_act"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
    }

    /// transformers ≥ 5 nests `rope_theta` under `rope_parameters`.
    struct RopeParameters: Decodable {
        var ropeTheta: Float?
        var ropeType: String?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
        }
    }

    public init(from decoder: Decoder) throws {
        try self.init(from: decoder, defaultModelType: "llama", defaultTheta: 10000, defaultTied: false)
    }

    /// Shared by the Qwen configurations, whose keys are the same with other defaults.
    init(from decoder: Decoder, defaultModelType: String, defaultTheta: Float, defaultTied: Bool) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? defaultModelType
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 32000
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 4096
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 11008
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 32
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
            ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        let nested = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? nested?.ropeTheta ?? defaultTheta
        ropeType = nested?.ropeType ?? scaling?.ropeType ?? "default"
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? defaultTied
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId) {
            eosTokenIds = [one]
        } else {
            eosTokenIds = (try? c.decodeIfPresent([Int].self, forKey: .eosTokenId)) ?? []
        }
    }

    /// `rope_type` of `rope_parameters`/`rope_scaling`; only "default" is implemented.
    public var ropeType: String

    public init(
        modelType: String = "llama", vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
        numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil,
        maxPositionEmbeddings: Int, rmsNormEps: Float, ropeTheta: Float, tieWordEmbeddings: Bool,
        attentionBias: Bool = false, bosTokenId: Int? = nil, eosTokenIds: [Int] = []
    ) {
        self.modelType = modelType
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeType = "default"
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.hiddenAct = "silu"
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
    }

    /// MLP activations of the gated MLP: SwiGLU ("silu") or GeGLU with tanh GELU (Gemma).
    public static let activations = ["silu", "gelu_pytorch_tanh"]

    /// The attention window of layer `l` (nil: global).
    public func slidingWindow(layer l: Int) -> Int? {
        l < slidingLayers.count && slidingLayers[l] ? slidingWindow : nil
    }

    /// The RoPE base of layer `l`: Gemma 3's local base on sliding layers.
    public func ropeTheta(layer l: Int) -> Float {
        slidingWindow(layer: l) != nil ? (localRopeTheta ?? ropeTheta) : ropeTheta
    }

    /// The factor of q·k before the softmax.
    public var attentionScale: Float { 1 / (queryPreAttentionScalar ?? Float(headDim)).squareRoot() }

    /// Reads `config.json`.
    public static func load(from url: URL) throws -> LlamaConfiguration {
        try decodeConfiguration(LlamaConfiguration.self, from: url)
    }

    /// Checks what the implementation relies on; `file` names the source in errors.
    public func validate(file: String) throws {
        for (key, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize),
                             ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
                             ("num_attention_heads", numAttentionHeads), ("num_key_value_heads", numKeyValueHeads),
                             ("head_dim", headDim), ("max_position_embeddings", maxPositionEmbeddings)] where value <= 0 {
            throw ModelsError.invalidConfiguration(file: file, reason: "\(key) must be positive, got \(value)")
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw ModelsError.invalidConfiguration(
                file: file, reason: "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim % 2 == 0 else {
            throw ModelsError.invalidConfiguration(file: file, reason: "head_dim \(headDim) must be even for RoPE")
        }
        guard LlamaConfiguration.activations.contains(hiddenAct) else {
            throw ModelsError.unsupported(key: "hidden_act", value: hiddenAct, file: file)
        }
        if !slidingLayers.isEmpty {
            guard slidingLayers.count == numHiddenLayers else {
                throw ModelsError.invalidConfiguration(
                    file: file, reason: "\(slidingLayers.count) layer types for \(numHiddenLayers) layers")
            }
            guard let w = slidingWindow, w > 0 else {
                throw ModelsError.invalidConfiguration(file: file, reason: "sliding layers without a positive sliding_window")
            }
        }
        guard ropeType == "default" else { throw ModelsError.unsupported(key: "rope_type", value: ropeType, file: file) }
    }
}

/// Decodes a config.json with errors naming the file.
func decodeConfiguration<C: Decodable>(_: C.Type, from url: URL) throws -> C {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ModelsError.missingFile(path: url.path)
    }
    do {
        return try JSONDecoder().decode(C.self, from: data)
    } catch {
        throw ModelsError.invalidConfiguration(file: url.path, reason: "\(error)")
    }
}

// MARK: - Blocks

/// One decoder block's weights: pre-norm attention and pre-norm SwiGLU MLP,
/// its matrices of one projection kind (quantised for inference, dense f32
/// for training, LoRA-wrapped dense while training an adapter).
public struct LlamaDecoderLayer<Projection: LinearProjection>: Sendable {
    public var inputNorm: FloatBuffer  // (hidden)
    public var query: Projection  // (heads * headDim, hidden)
    public var key: Projection  // (kvHeads * headDim, hidden)
    public var value: Projection  // (kvHeads * headDim, hidden)
    /// Qwen2's q/k/v biases.
    public var queryBias: FloatBuffer?, keyBias: FloatBuffer?, valueBias: FloatBuffer?
    /// Qwen3's per-head RMSNorm of queries and keys, (headDim) each.
    public var queryNorm: FloatBuffer?, keyNorm: FloatBuffer?
    public var output: Projection  // (hidden, heads * headDim)
    /// The norm before the MLP (transformers' Llama `post_attention_layernorm`,
    /// Gemma's `pre_feedforward_layernorm`; GGUF `ffn_norm`).
    public var postAttentionNorm: FloatBuffer  // (hidden)
    /// Gemma: norms of the attention output and of the MLP output before
    /// each joins the residual stream (GGUF `post_attention_norm`, `post_ffw_norm`).
    public var attentionOutputNorm: FloatBuffer?, feedForwardOutputNorm: FloatBuffer?
    /// Gemma 3's local layers: keys visible to a query (its own included)
    /// and their RoPE base; nil: global attention, the model's base.
    public var slidingWindow: Int?
    public var ropeTheta: Float?
    public var gate: Projection  // (intermediate, hidden)
    public var up: Projection  // (intermediate, hidden)
    public var down: Projection  // (hidden, intermediate)

    public init(inputNorm: FloatBuffer, query: Projection, key: Projection, value: Projection,
                queryBias: FloatBuffer? = nil, keyBias: FloatBuffer? = nil, valueBias: FloatBuffer? = nil,
                queryNorm: FloatBuffer? = nil, keyNorm: FloatBuffer? = nil, output: Projection,
                postAttentionNorm: FloatBuffer, attentionOutputNorm: FloatBuffer? = nil,
                feedForwardOutputNorm: FloatBuffer? = nil, slidingWindow: Int? = nil, ropeTheta: Float? = nil,
                gate: Projection, up: Projection, down: Projection) {
        self.inputNorm = inputNorm
        self.query = query
        self.key = key
        self.value = value
        self.queryBias = queryBias
        self.keyBias = keyBias
        self.valueBias = valueBias
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.output = output
        self.postAttentionNorm = postAttentionNorm
        self.attentionOutputNorm = attentionOutputNorm
        self.feedForwardOutputNorm = feedForwardOutputNorm
        self.slidingWindow = slidingWindow
        self.ropeTheta = ropeTheta
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// The matrix a LoRA target adapts.
    public func projection(_ t: LoRATarget) -> Projection {
        switch t {
        case .q: return query
        case .k: return key
        case .v: return value
        case .o: return output
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }

    /// A vector weight by its name in `LlamaWeightNames` (nil for matrices and absent ones).
    public func vector(_ part: LlamaWeightNames.Part) -> FloatBuffer? {
        switch part {
        case .inputNorm: return inputNorm
        case .postNorm: return postAttentionNorm
        case .queryBias: return queryBias
        case .keyBias: return keyBias
        case .valueBias: return valueBias
        case .queryNorm: return queryNorm
        case .keyNorm: return keyNorm
        case .attentionOutputNorm: return attentionOutputNorm
        case .feedForwardOutputNorm: return feedForwardOutputNorm
        case .query, .key, .value, .output, .gate, .up, .down: return nil
        }
    }

    /// The same layer with every matrix mapped (vectors are shared).
    public func mapProjections<P: LinearProjection>(_ f: (Projection, LoRATarget) throws -> P) rethrows -> LlamaDecoderLayer<P> {
        LlamaDecoderLayer<P>(
            inputNorm: inputNorm, query: try f(query, .q), key: try f(key, .k), value: try f(value, .v),
            queryBias: queryBias, keyBias: keyBias, valueBias: valueBias, queryNorm: queryNorm, keyNorm: keyNorm,
            output: try f(output, .o), postAttentionNorm: postAttentionNorm,
            attentionOutputNorm: attentionOutputNorm, feedForwardOutputNorm: feedForwardOutputNorm,
            slidingWindow: slidingWindow, ropeTheta: ropeTheta,
            gate: try f(gate, .gate), up: try f(up, .up), down: try f(down, .down))
    }
}

/// What one layer's backward pass reads from its forward (llm.c's
/// activations): a recording forward fills it; inference passes none and
/// reuses one set of buffers for every layer instead.
public final class LlamaLayerRecord: @unchecked Sendable {
    public let input: FloatBuffer  // (n, H) the layer's input
    public let h1: FloatBuffer  // (n, H) input RMS-normed
    public let q: FloatBuffer  // (n, heads * D) after q-norm and RoPE
    public let k: FloatBuffer, v: FloatBuffer  // (n, kvHeads * D), k after k-norm and RoPE
    public let probabilities: FloatBuffer  // (heads, n, n)
    public let context: FloatBuffer  // (n, heads * D)
    public let middle: FloatBuffer  // (n, H) input + attention
    public let h2: FloatBuffer  // (n, H) middle RMS-normed
    public let gate: FloatBuffer, up: FloatBuffer, act: FloatBuffer  // (n, I); act = silu(gate) * up
    public let output: FloatBuffer  // (n, H) the layer's output
    /// Qwen3: queries and keys before their per-head RMSNorm.
    public let qRaw: FloatBuffer?, kRaw: FloatBuffer?
    /// Gemma: the attention and MLP outputs (n, H) before their norms.
    public let attentionRaw: FloatBuffer?, mlpRaw: FloatBuffer?
    /// Each projection's own record (LoRA's x Aᵀ).
    public let projections: [LoRATarget: ProjectionRecord]

    public init(input: FloatBuffer, tokens n: Int, configuration c: LlamaConfiguration, qkNorm: Bool, outputNorms: Bool = false) {
        self.input = input
        let H = c.hiddenSize, qW = c.numAttentionHeads * c.headDim, kvW = c.numKeyValueHeads * c.headDim, I = c.intermediateSize
        h1 = FloatBuffer(count: n * H)
        q = FloatBuffer(count: n * qW)
        k = FloatBuffer(count: n * kvW)
        v = FloatBuffer(count: n * kvW)
        probabilities = FloatBuffer(count: c.numAttentionHeads * n * n)
        context = FloatBuffer(count: n * qW)
        middle = FloatBuffer(count: n * H)
        h2 = FloatBuffer(count: n * H)
        gate = FloatBuffer(count: n * I)
        up = FloatBuffer(count: n * I)
        act = FloatBuffer(count: n * I)
        output = FloatBuffer(count: n * H)
        qRaw = qkNorm ? FloatBuffer(count: n * qW) : nil
        kRaw = qkNorm ? FloatBuffer(count: n * kvW) : nil
        attentionRaw = outputNorms ? FloatBuffer(count: n * H) : nil
        mlpRaw = outputNorms ? FloatBuffer(count: n * H) : nil
        projections = Dictionary(uniqueKeysWithValues: LoRATarget.allCases.map { ($0, ProjectionRecord()) })
    }
}

extension LlamaDecoderLayer {
    /// Where one forward pass of a layer writes. Inference aliases them
    /// (one residual row set updated in place, spent queries reused for
    /// block outputs); a recording forward gives each its own record buffer.
    struct Buffers {
        var h1, q, k, v, scores, context, attentionOut, middle, h2, gate, up, act, mlpOut, output: UnsafeMutablePointer<Float>
        var qRaw, kRaw: UnsafeMutablePointer<Float>?
        /// Gemma: where the attention and MLP outputs are kept before their norms (training).
        var attentionRaw: UnsafeMutablePointer<Float>? = nil, mlpRaw: UnsafeMutablePointer<Float>? = nil
        /// Gate rows computed at a time: (n, gateSlice) of `gate`.
        var gateSlice: Int
    }

    /// The one layer forward (llm.c's `*_forward`): x (n, H) at `positions`
    /// -> buffers.output. `attend` turns (q, k, v) into buffers.context,
    /// through the KV cache for inference or over the sequence itself.
    func forward(input: UnsafePointer<Float>, n: Int, positions: [Int], configuration c: LlamaConfiguration,
                 ropeLayout: RoPELayout, activations: ActivationPrecision, buffers b: Buffers, record: LlamaLayerRecord?,
                 attend: (Buffers) -> Void) {
        let H = c.hiddenSize, D = c.headDim, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads, I = c.intermediateSize
        let qW = heads * D, kvW = kvHeads * D
        func project(_ w: Projection, _ t: LoRATarget, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                     rows: Range<Int>? = nil, bias: FloatBuffer? = nil) {
            w.apply(x, n: n, into: y, outputRows: rows ?? 0..<w.outFeatures, bias: bias.map { UnsafePointer($0.p) },
                    activations: activations, record: record?.projections[t])
        }
        // Attention block
        b.h1.update(from: input, count: n * H)
        Kernels.rmsNorm(b.h1, rows: n, cols: H, weight: inputNorm.p, eps: c.rmsNormEps)
        project(query, .q, b.h1, b.q, bias: queryBias)
        project(key, .k, b.h1, b.k, bias: keyBias)
        project(value, .v, b.h1, b.v, bias: valueBias)
        if let qn = queryNorm, let kn = keyNorm {
            b.qRaw?.update(from: b.q, count: n * qW)
            b.kRaw?.update(from: b.k, count: n * kvW)
            Kernels.rmsNorm(b.q, rows: n * heads, cols: D, weight: qn.p, eps: c.rmsNormEps)
            Kernels.rmsNorm(b.k, rows: n * kvHeads, cols: D, weight: kn.p, eps: c.rmsNormEps)
        }
        let theta = ropeTheta ?? c.ropeTheta
        Kernels.rope(b.q, tokens: n, heads: heads, headDim: D, positions: positions, theta: theta, layout: ropeLayout)
        Kernels.rope(b.k, tokens: n, heads: kvHeads, headDim: D, positions: positions, theta: theta, layout: ropeLayout)
        attend(b)
        project(output, .o, b.context, b.attentionOut)
        if let an = attentionOutputNorm {
            b.attentionRaw?.update(from: b.attentionOut, count: n * H)
            Kernels.rmsNorm(b.attentionOut, rows: n, cols: H, weight: an.p, eps: c.rmsNormEps)
        }
        LlamaAttentionKernel.add(input, b.attentionOut, into: b.middle, count: n * H)
        // MLP block
        b.h2.update(from: b.middle, count: n * H)
        Kernels.rmsNorm(b.h2, rows: n, cols: H, weight: postAttentionNorm.p, eps: c.rmsNormEps)
        project(up, .up, b.h2, b.up)
        if b.act != b.up { b.act.update(from: b.up, count: n * I) }
        // A prompt's gate may run in row slices so that only (n, slice) of
        // it is live beside the (n, I) up projection.
        var a = 0
        while a < I {
            let e = min(I, a + b.gateSlice)
            project(gate, .gate, b.h2, b.gate, rows: a..<e)
            if c.hiddenAct == "gelu_pytorch_tanh" {
                Kernels.geluTanhMul(b.gate, into: b.act + a, rows: n, cols: e - a, upStride: I)
            } else {
                Kernels.siluMul(b.gate, into: b.act + a, rows: n, cols: e - a, upStride: I)
            }
            a = e
        }
        project(down, .down, b.act, b.mlpOut)
        if let fn = feedForwardOutputNorm {
            b.mlpRaw?.update(from: b.mlpOut, count: n * H)
            Kernels.rmsNorm(b.mlpOut, rows: n, cols: H, weight: fn.p, eps: c.rmsNormEps)
        }
        LlamaAttentionKernel.add(b.middle, b.mlpOut, into: b.output, count: n * H)
    }

    /// Runs this layer over a whole sequence (positions 0..<n, no cache)
    /// into `record`: training's forward, whose backward reads the record.
    /// Its output is `record.output`.
    public func forward(tokens n: Int, configuration c: LlamaConfiguration, ropeLayout: RoPELayout = .neox,
                        record r: LlamaLayerRecord) {
        let D = c.headDim, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let buffers = Buffers(
            h1: r.h1.p, q: r.q.p, k: r.k.p, v: r.v.p, scores: r.probabilities.p, context: r.context.p,
            attentionOut: r.middle.p, middle: r.middle.p, h2: r.h2.p, gate: r.gate.p, up: r.up.p, act: r.act.p,
            mlpOut: r.output.p, output: r.output.p, qRaw: r.qRaw?.p, kRaw: r.kRaw?.p,
            attentionRaw: r.attentionRaw?.p, mlpRaw: r.mlpRaw?.p, gateSlice: c.intermediateSize)
        forward(input: r.input.p, n: n, positions: Array(0..<n), configuration: c, ropeLayout: ropeLayout,
                activations: .float32, buffers: buffers, record: r) { b in
            let kvW = kvHeads * D
            LlamaAttentionKernel.attendRows(
                queries: b.q, n: n, total: n, heads: heads, kvHeads: kvHeads, headDim: D, scale: c.attentionScale,
                window: slidingWindow, scores: b.scores, keepsAllHeads: true, context: b.context) { kv, body in body(b.k + kv * D, b.v + kv * D, kvW) }
        }
    }
}

/// Which logits a forward pass returns.
public enum LogitsSelection: Sendable, Equatable {
    case none
    /// The last position's only: what next-token prediction needs.
    case last
    /// Every position of the call (n, vocab).
    case all
}

/// The result of one forward pass over n new tokens.
public struct DecoderOutput: Sendable {
    /// (rows, vocab), rows = 1 for `.last`, n for `.all`, 0 for `.none`.
    public var logits: [Float]
    public var vocabularySize: Int
    /// Softmax attention probabilities of the requested layers:
    /// layer -> (heads, n, total) where total = positions before the call + n.
    public var attentions: [Int: [Float]]
    /// Positions in the cache before this call.
    public var offset: Int

    public var rows: Int { vocabularySize == 0 ? 0 : logits.count / vocabularySize }

    /// Logits of row `r` (a copy).
    public func logits(row r: Int) -> [Float] {
        Array(logits[(r * vocabularySize)..<((r + 1) * vocabularySize)])
    }
}

// MARK: - Model

public struct LlamaModel: Sendable {
    /// What distinguishes the architectures this file runs.
    public struct Options: Sendable, Equatable {
        /// How RoPE pairs dimensions. HF checkpoints use `.neox` (rotate_half).
        /// llama.cpp's converter permutes the rows of Llama's Q and K weights
        /// (within each head, dimension i and i + d/2 become neighbours 2i,
        /// 2i+1) so that ggml can rotate adjacent pairs; a Llama GGUF must
        /// therefore use `.interleaved` on its unchanged weights. Rotating the
        /// permuted q with adjacent pairs gives exactly the permuted
        /// rotate_half result, and since q and k carry the same permutation
        /// their dot products, hence the attention, are identical; V and the
        /// output projection are not permuted. So no weight is copied or
        /// un-permuted at load, and logits match transformers' (which un-permutes).
        public var ropeLayout: RoPELayout
        public var architecture: String

        public static func == (a: Options, b: Options) -> Bool {
            a.architecture == b.architecture && "\(a.ropeLayout)" == "\(b.ropeLayout)"
        }
    }

    public var configuration: LlamaConfiguration
    public var options: Options
    public var embeddings: QuantizedMatrix  // (vocab, hidden)
    public var layers: [LlamaDecoderLayer<QuantizedMatrix>]
    public var finalNorm: FloatBuffer  // (hidden)
    /// The LM head; the embedding matrix itself when tied.
    public var outputHead: QuantizedMatrix  // (vocab, hidden)
    /// Decode-step arithmetic of the quantised projections. The default is
    /// exact f32 (transformers parity); `.int8` is llama.cpp's faster recipe.
    public var decodeActivations: ActivationPrecision = .float32
    /// Storage of the caches `makeCache` creates: exact f32 by default,
    /// f16 as llama.cpp keeps it.
    public var kvCachePrecision: KVCache.Precision = .float32

    public var contextLength: Int { configuration.maxPositionEmbeddings }
    public var vocabularySize: Int { configuration.vocabSize }

    /// A cache for `capacity` positions (at most the context length); its
    /// sliding-window layers keep their window and `slidingSlack` more.
    public func makeCache(capacity: Int? = nil, slidingSlack: Int = KVCache.defaultSlidingSlack) -> KVCache {
        let c = configuration
        return KVCache(layers: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim,
                       capacity: min(capacity ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings),
                       precision: kvCachePrecision, window: c.slidingWindow, slidingLayers: cacheSlidingLayers,
                       slidingSlack: slidingSlack)
    }

    /// Which layers slide, as the cache records it.
    var cacheSlidingLayers: [Bool] { (0..<configuration.numHiddenLayers).map { configuration.slidingWindow(layer: $0) != nil } }

    /// Throws unless `cache` was made for this model's layers, widths and
    /// sliding windows (`makeCache`).
    func checkShape(of cache: KVCache) throws {
        let c = configuration, sliding = cacheSlidingLayers
        guard cache.layers == c.numHiddenLayers, cache.width == c.numKeyValueHeads * c.headDim,
              cache.slidingLayers == sliding, cache.window == (sliding.contains(true) ? c.slidingWindow : nil) else {
            throw ModelsError.invalidInput("KV cache shape (\(cache.layers) layers x \(cache.width), sliding window "
                + "\(cache.window.map(String.init) ?? "none")) does not fit this model")
        }
    }

    /// Runs `tokens` from position 0 with a fresh cache.
    public func forward(_ tokens: [Int], logits: LogitsSelection = .last,
                        returnAttentions: Set<Int> = []) throws -> DecoderOutput {
        var cache = makeCache(capacity: tokens.count)
        return try forward(tokens, cache: &cache, logits: logits, returnAttentions: returnAttentions)
    }

    /// Runs n new tokens after the cache's positions, as one batch, and appends
    /// their keys and values to `cache`.
    public func forward(_ tokens: [Int], cache: inout KVCache, logits selection: LogitsSelection = .last,
                        returnAttentions: Set<Int> = []) throws -> DecoderOutput {
        let c = configuration
        let n = tokens.count
        guard n > 0 else { throw ModelsError.invalidInput("no tokens to run") }
        try checkShape(of: cache)
        let offset = cache.count
        guard offset + n <= c.maxPositionEmbeddings else {
            throw ModelsError.sequenceTooLong(length: offset + n, maximum: c.maxPositionEmbeddings)
        }
        guard cache.canAppend(n) else {
            throw ModelsError.invalidInput("KV cache holds \(cache.capacity) positions; \(offset) used, \(n) more requested")
        }
        for (i, t) in tokens.enumerated() where t < 0 || t >= c.vocabSize {
            throw ModelsError.invalidInput("token id \(t) at \(i) is outside the vocabulary of \(c.vocabSize)")
        }
        for l in returnAttentions where l < 0 || l >= c.numHiddenLayers {
            throw ModelsError.invalidInput("attention requested for layer \(l); the model has \(c.numHiddenLayers)")
        }

        let H = c.hiddenSize, D = c.headDim, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let qWidth = heads * D, kvWidth = kvHeads * D, I = c.intermediateSize
        let total = offset + n
        let positions = Array(offset..<total)

        var x = embeddings.gatherRows(tokens).data  // (n, H) residual stream
        if let s = c.embeddingScale { for i in x.indices { x[i] *= s } }
        let h = FloatBuffer(count: n * max(H, qWidth))  // (n, H) normed input / (n, qWidth) attention context
        let q = FloatBuffer(count: n * max(qWidth, H))  // (n, heads * D) queries, then (n, H) block outputs
        let k = FloatBuffer(count: n * kvWidth)  // (n, kvHeads * D)
        let v = FloatBuffer(count: n * kvWidth)  // (n, kvHeads * D)
        // A prompt's gate runs in slices of I so only (n, I / 4) of it is
        // live beside the (n, I) up projection; a decode row runs it whole.
        let gateSlice = n > QuantizedMatrix.gemmThreshold ? (I + 3) / 4 : I
        let g = FloatBuffer(count: n * gateSlice)  // (n, gateSlice) gate slice
        let u = FloatBuffer(count: n * I)  // (n, I) up, then silu(gate) * up
        // Prompt rows need one head's (n, total) scores at a time; all heads'
        // only when their attention weights are returned. Decode keeps (heads, total).
        let allHeads = n == 1 || !returnAttentions.isEmpty
        let scores = FloatBuffer(count: (allHeads ? heads : 1) * n * total)
        var attentions = [Int: [Float]]()
        let scale = c.attentionScale
        cache.reserve(n)

        for (l, layer) in layers.enumerated() {
            x.withUnsafeMutableBufferPointer { xb in
                let xp = xb.baseAddress!
                // The residual rows are updated in place; spent queries take the block outputs.
                let buffers = LlamaDecoderLayer<QuantizedMatrix>.Buffers(
                    h1: h.p, q: q.p, k: k.p, v: v.p, scores: scores.p, context: h.p, attentionOut: q.p, middle: xp,
                    h2: h.p, gate: g.p, up: u.p, act: u.p, mlpOut: q.p, output: xp, qRaw: nil, kRaw: nil, gateSlice: gateSlice)
                layer.forward(input: xp, n: n, positions: positions, configuration: c, ropeLayout: options.ropeLayout,
                              activations: decodeActivations, buffers: buffers, record: nil) { b in
                    cache.write(layer: l, keys: b.k, values: b.v, rows: n)
                    LlamaAttentionKernel.attend(
                        queries: b.q, n: n, cache: cache, layer: l, total: total,
                        heads: heads, kvHeads: kvHeads, headDim: D, scale: scale, window: layer.slidingWindow,
                        scores: b.scores, keepsAllHeads: allHeads, context: b.context)
                    if returnAttentions.contains(l) {
                        attentions[l] = Array(UnsafeBufferPointer(start: b.scores, count: heads * n * total))
                    }
                }
            }
        }
        cache.commit(n)

        let rows: Range<Int>
        switch selection {
        case .none: rows = 0..<0
        case .last: rows = (n - 1)..<n
        case .all: rows = 0..<n
        }
        var out = [Float](repeating: 0, count: rows.count * c.vocabSize)
        if !rows.isEmpty {
            x.withUnsafeMutableBufferPointer { xb in
                let first = xb.baseAddress! + rows.lowerBound * H
                Kernels.rmsNorm(first, rows: rows.count, cols: H, weight: finalNorm.p, eps: c.rmsNormEps)
                out.withUnsafeMutableBufferPointer { outputHead.apply(first, n: rows.count, into: $0.baseAddress!, activations: decodeActivations) }
            }
        }
        return DecoderOutput(logits: out, vocabularySize: c.vocabSize, attentions: attentions, offset: offset)
    }

    /// Prompt positions run per forward pass in `prefill`: the activation
    /// buffers and the (heads, n, total) score matrix grow with n, so long
    /// prompts run in slices of this many tokens (llama.cpp's n_batch does
    /// the same); 256 rows keep sgemm near its full speed.
    public static let prefillChunk = 256

    /// Appends `tokens` to `cache` in slices of `chunk` and returns the last
    /// position's logits (empty for `.none`). Each slice attends to everything
    /// cached before it, so this equals one `forward` call up to f32 rounding.
    public func prefill(_ tokens: [Int], cache: inout KVCache, logits selection: LogitsSelection = .last,
                        chunk: Int = LlamaModel.prefillChunk) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelsError.invalidInput("no tokens to run") }
        precondition(selection != .all, "prefill returns the last position's logits only")
        var start = 0
        var logits: [Float] = []
        while start < tokens.count {
            let end = min(tokens.count, start + max(1, chunk))
            let last = end == tokens.count
            logits = try forward(Array(tokens[start..<end]), cache: &cache, logits: last ? selection : .none).logits
            start = end
        }
        return logits
    }

    /// Bytes of weights the model reads per token (all matrices and norms).
    public var weightBytes: Int {
        var total = embeddings.byteCount + finalNorm.count * 4
        if outputHead.storage !== embeddings.storage || outputHead.offset != embeddings.offset {
            total += outputHead.byteCount
        }
        for l in layers {
            total += [l.query, l.key, l.value, l.output, l.gate, l.up, l.down].reduce(0) { $0 + $1.byteCount }
        }
        return total
    }
}

/// Causal grouped-query attention over the cache, as matrix products.
enum LlamaAttentionKernel {
    /// context[n, heads * D] = softmax(scale · Q_h K_gᵀ + causal mask) V_g per head h,
    /// with g = h / (heads / kvHeads) the key/value head it shares.
    /// queries: (n, heads * D); the cache's `layer` holds `total` positions,
    /// the n new ones last. With `keepsAllHeads`, scores is (heads, n, total)
    /// and left holding every head's probabilities; otherwise (n, total),
    /// reused head after head so a long prompt's score memory does not grow
    /// with the head count. A decode row (n = 1) always keeps all heads.
    /// One decode row reads the cache in its own precision; a prompt's rows
    /// run as sgemm over f32 rows.
    static func attend(
        queries: UnsafePointer<Float>, n: Int, cache: KVCache, layer: Int,
        total: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float, window: Int? = nil,
        scores: UnsafeMutablePointer<Float>, keepsAllHeads: Bool, context: UnsafeMutablePointer<Float>
    ) {
        guard n > 1 else {
            // A sliding layer's decode row reads only the last `window` positions;
            // its probabilities are (heads, visible) then, the rest of each row zero.
            let first = window.map { max(0, total - $0) } ?? 0, visible = total - first
            switch cache.precision {
            case .float32:
                cache.withRows(layer: layer, from: first, as: Float.self) { k, v in
                    Kernels.attendOne(query: queries, keys: k, values: v, total: visible,
                                      heads: heads, kvHeads: kvHeads, headDim: D, scale: scale,
                                      probabilities: scores, context: context)
                }
            case .float16:
                cache.withRows(layer: layer, from: first, as: UInt16.self) { k, v in
                    Kernels.attendOne(query: queries, halfKeys: k, halfValues: v,
                                      total: visible, heads: heads, kvHeads: kvHeads, headDim: D, scale: scale,
                                      probabilities: scores, context: context)
                }
            }
            if first > 0 { spreadProbabilities(scores, heads: heads, visible: visible, total: total) }
            return
        }
        // Prompt rows read what the layer still holds: every position, or a
        // sliding layer's kept ones (those before are masked for every row).
        let first = cache.firstKept(layer: layer), visible = total - first
        attendRows(queries: queries, n: n, total: visible, heads: heads, kvHeads: kvHeads, headDim: D, scale: scale,
                   window: window, scores: scores, keepsAllHeads: keepsAllHeads, context: context) { kv, body in
            cache.withFloatRows(layer: layer, from: first, rows: visible, head: kv, headDim: D, body)
        }
        if first > 0 && keepsAllHeads { spreadProbabilities(scores, heads: heads * n, visible: visible, total: total) }
    }

    /// Widens (rows, visible) probabilities in place to (rows, total) rows
    /// whose first total - visible entries are zero (the keys a sliding
    /// window hid); rows are a decode row's heads or a prompt's (head, row)s.
    static func spreadProbabilities(_ p: UnsafeMutablePointer<Float>, heads: Int, visible: Int, total: Int) {
        for h in stride(from: heads - 1, through: 0, by: -1) {
            let from = p + h * visible, to = p + h * total + (total - visible)
            // Backwards: a head's row only moves right, over itself and spent rows.
            for i in stride(from: visible - 1, through: 0, by: -1) { to[i] = from[i] }
            (p + h * total).update(repeating: 0, count: total - visible)
        }
    }

    /// The sgemm path of `attend` over f32 rows: `rows(kv, body)` calls body
    /// with key/value head kv's (total, D) keys, values and their row stride.
    static func attendRows(
        queries: UnsafePointer<Float>, n: Int, total: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float,
        window: Int? = nil, scores: UnsafeMutablePointer<Float>, keepsAllHeads: Bool, context: UnsafeMutablePointer<Float>,
        rows: (Int, (UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void) -> Void
    ) {
        let group = heads / kvHeads
        let qWidth = heads * D
        for kv in 0..<kvHeads {
            rows(kv) { keys, values, ld in
                for hd in kv * group..<(kv + 1) * group {
                    let s = scores + (keepsAllHeads ? hd * n * total : 0)
                    BLAS.sgemm(transB: true, m: n, n: total, k: D, alpha: scale,
                               a: queries + hd * D, lda: qWidth, b: keys, ldb: ld, c: s, ldc: total)
                    // Row r sees keys 0...(total - n) + r.
                    Kernels.softmax(s, rows: n, cols: total, mask: .slidingCausal(offset: total - n, window: window))
                    BLAS.sgemm(m: n, n: D, k: total, a: s, lda: total, b: values, ldb: ld, c: context + hd * D, ldc: qWidth)
                }
            }
        }
    }

    /// z = x + y over `count` elements (z may be x or y).
    static func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(z + i).storeBytes(of: a + b, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            z[i] = x[i] + y[i]
            i += 1
        }
    }
}

// MARK: - Weight loading

/// Where a decoder's named weights come from, whatever the file format.
struct LlamaWeightSource {
    var file: String
    var matrix: (String) throws -> QuantizedMatrix?
    var vector: (String) throws -> [Float]?
    /// HF name pieces, or GGUF ones.
    var names: LlamaWeightNames
}

/// Tensor names of one checkpoint layout: the one table of a Llama-family
/// decoder's weight names, read by loading and by the LoRA merge's export.
public struct LlamaWeightNames: Sendable {
    public var embeddings: String, finalNorm: String, outputHead: String
    public var layer: @Sendable (Int, LlamaWeightNames.Part) -> String

    public enum Part: Sendable, CaseIterable {
        case inputNorm, query, key, value, queryBias, keyBias, valueBias, queryNorm, keyNorm, output, postNorm, gate, up, down
        /// Gemma's norms of the attention and MLP outputs.
        case attentionOutputNorm, feedForwardOutputNorm

        /// The projection a LoRA target adapts.
        public init(_ target: LoRATarget) {
            switch target {
            case .q: self = .query
            case .k: self = .key
            case .v: self = .value
            case .o: self = .output
            case .gate: self = .gate
            case .up: self = .up
            case .down: self = .down
            }
        }
    }

    /// transformers' names (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM).
    /// The two Gemma-only norms never occur in these checkpoints; Gemma 3's
    /// own table (`gemma3HuggingFace`) names its norms differently.
    public static let huggingFace = LlamaWeightNames(
        embeddings: "model.embed_tokens.weight", finalNorm: "model.norm.weight", outputHead: "lm_head.weight"
    ) { i, part in
        let p = "model.layers.\(i)."
        switch part {
        case .inputNorm: return p + "input_layernorm.weight"
        case .query: return p + "self_attn.q_proj.weight"
        case .key: return p + "self_attn.k_proj.weight"
        case .value: return p + "self_attn.v_proj.weight"
        case .queryBias: return p + "self_attn.q_proj.bias"
        case .keyBias: return p + "self_attn.k_proj.bias"
        case .valueBias: return p + "self_attn.v_proj.bias"
        case .queryNorm: return p + "self_attn.q_norm.weight"
        case .keyNorm: return p + "self_attn.k_norm.weight"
        case .output: return p + "self_attn.o_proj.weight"
        case .postNorm: return p + "post_attention_layernorm.weight"
        case .gate: return p + "mlp.gate_proj.weight"
        case .up: return p + "mlp.up_proj.weight"
        case .down: return p + "mlp.down_proj.weight"
        case .attentionOutputNorm: return p + "post_attention_output_layernorm.weight"
        case .feedForwardOutputNorm: return p + "post_feedforward_layernorm.weight"
        }
    }

    /// llama.cpp's names.
    public static let gguf = LlamaWeightNames(
        embeddings: "token_embd.weight", finalNorm: "output_norm.weight", outputHead: "output.weight"
    ) { i, part in
        let p = "blk.\(i)."
        switch part {
        case .inputNorm: return p + "attn_norm.weight"
        case .query: return p + "attn_q.weight"
        case .key: return p + "attn_k.weight"
        case .value: return p + "attn_v.weight"
        case .queryBias: return p + "attn_q.bias"
        case .keyBias: return p + "attn_k.bias"
        case .valueBias: return p + "attn_v.bias"
        case .queryNorm: return p + "attn_q_norm.weight"
        case .keyNorm: return p + "attn_k_norm.weight"
        case .output: return p + "attn_output.weight"
        case .postNorm: return p + "ffn_norm.weight"
        case .gate: return p + "ffn_gate.weight"
        case .up: return p + "ffn_up.weight"
        case .down: return p + "ffn_down.weight"
        case .attentionOutputNorm: return p + "post_attention_norm.weight"
        case .feedForwardOutputNorm: return p + "post_ffw_norm.weight"
        }
    }
}

extension LlamaModel {
    /// Which optional weights an architecture requires.
    struct Requirements {
        var qkvBias: Bool
        var qkNorm: Bool
        /// Gemma's attention-output and MLP-output norms.
        var outputNorms = false
    }

    init(configuration c: LlamaConfiguration, options: Options, requirements: Requirements,
         source: LlamaWeightSource) throws {
        try c.validate(file: source.file)
        let file = source.file
        let H = c.hiddenSize, D = c.headDim, I = c.intermediateSize
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> QuantizedMatrix {
            guard let m = try source.matrix(name) else { throw ModelsError.missingTensor(name: name, file: file) }
            guard m.rows == rows, m.cols == cols else {
                throw ModelsError.shapeMismatch(tensor: name, expected: [rows, cols], actual: [m.rows, m.cols], file: file)
            }
            return m
        }
        func vector(_ name: String, _ count: Int, required: Bool = true) throws -> FloatBuffer? {
            guard let v = try source.vector(name) else {
                if required { throw ModelsError.missingTensor(name: name, file: file) }
                return nil
            }
            guard v.count == count else {
                throw ModelsError.shapeMismatch(tensor: name, expected: [count], actual: [v.count], file: file)
            }
            return FloatBuffer(v)
        }
        let names = source.names
        configuration = c
        self.options = options
        embeddings = try matrix(names.embeddings, c.vocabSize, H)
        finalNorm = try vector(names.finalNorm, H)!
        if let head = try source.matrix(names.outputHead) {
            guard head.rows == c.vocabSize, head.cols == H else {
                throw ModelsError.shapeMismatch(tensor: names.outputHead, expected: [c.vocabSize, H],
                                                actual: [head.rows, head.cols], file: file)
            }
            outputHead = head
        } else if c.tieWordEmbeddings || names.outputHead == LlamaWeightNames.gguf.outputHead {
            // GGUF drops output.weight when tied; llama.cpp then reuses token_embd.
            outputHead = embeddings
        } else {
            throw ModelsError.missingTensor(name: names.outputHead, file: file)
        }
        // Appended one by one: `map` would reserve every layer up front, and a
        // config's layer count is checked only by the tensors each layer finds.
        var built: [LlamaDecoderLayer<QuantizedMatrix>] = []
        for i in 0..<c.numHiddenLayers {
            let n = { names.layer(i, $0) }
            let qW = c.numAttentionHeads * D, kvW = c.numKeyValueHeads * D
            built.append(LlamaDecoderLayer(
                inputNorm: try vector(n(.inputNorm), H)!,
                query: try matrix(n(.query), qW, H),
                key: try matrix(n(.key), kvW, H),
                value: try matrix(n(.value), kvW, H),
                queryBias: try vector(n(.queryBias), qW, required: requirements.qkvBias),
                keyBias: try vector(n(.keyBias), kvW, required: requirements.qkvBias),
                valueBias: try vector(n(.valueBias), kvW, required: requirements.qkvBias),
                queryNorm: try vector(n(.queryNorm), D, required: requirements.qkNorm),
                keyNorm: try vector(n(.keyNorm), D, required: requirements.qkNorm),
                output: try matrix(n(.output), H, qW),
                postAttentionNorm: try vector(n(.postNorm), H)!,
                attentionOutputNorm: try vector(n(.attentionOutputNorm), H, required: requirements.outputNorms),
                feedForwardOutputNorm: try vector(n(.feedForwardOutputNorm), H, required: requirements.outputNorms),
                slidingWindow: c.slidingWindow(layer: i),
                ropeTheta: c.slidingWindow(layer: i) != nil ? c.localRopeTheta : nil,
                gate: try matrix(n(.gate), I, H),
                up: try matrix(n(.up), I, H),
                down: try matrix(n(.down), H, I)))
        }
        layers = built
    }

    /// A Llama checkpoint directory: config.json + model.safetensors (HF layout).
    public init(directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try LlamaConfiguration.load(from: configURL)
        guard config.modelType == "llama" else {
            throw ModelsError.unknownArchitecture(name: config.modelType, file: configURL.path, supported: ["llama"])
        }
        try self.init(configuration: config, options: Options(ropeLayout: .neox, architecture: "llama"),
                      requirements: Requirements(qkvBias: config.attentionBias, qkNorm: false),
                      source: try LlamaModel.safetensorsSource(directory: directory))
    }

    /// Weights of `directory/model.safetensors` as f32 matrices.
    static func safetensorsSource(directory: URL) throws -> LlamaWeightSource {
        let url = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelsError.missingFile(path: url.path + " (sharded checkpoints are not supported)")
        }
        let st = try SafeTensors(contentsOf: url)
        return LlamaWeightSource(
            file: url.path,
            matrix: { name in
                guard st.contains(name) else { return nil }
                let t = try st.tensor(named: name)
                guard t.rank == 2 else {
                    throw ModelsError.shapeMismatch(tensor: name, expected: [-1, -1], actual: t.shape, file: url.path)
                }
                let bytes = t.data.withUnsafeBytes { Array($0) }
                return try QuantizedMatrix(type: .f32, rows: t.shape[0], cols: t.shape[1], bytes: bytes, name: name)
            },
            vector: { name in st.contains(name) ? try st.tensor(named: name).data : nil },
            names: .huggingFace)
    }

    /// A GGUF file whose `general.architecture` is llama, qwen2, qwen3 or gemma3.
    /// Quantised weights stay in the memory-mapped file.
    public init(gguf url: URL) throws {
        let file = try GGUFFile(contentsOf: url)
        let m = file.metadata
        let arch = try m.string("general.architecture")
        let supported = ["llama", "qwen2", "qwen3", "gemma3"]
        guard supported.contains(arch) else {
            throw ModelsError.unknownArchitecture(name: arch, file: url.path, supported: supported)
        }
        let heads = try m.int("\(arch).attention.head_count")
        let hidden = try m.int("\(arch).embedding_length")
        let vocab: Int
        if m.contains("\(arch).vocab_size") {
            vocab = try m.int("\(arch).vocab_size")
        } else {
            vocab = try file.tensor(named: "token_embd.weight").ne.last ?? 0
        }
        // Each block has tensors of its own: a block count past the tensors
        // the file holds is corruption, refused before per-layer tables are made.
        let blocks = try m.int("\(arch).block_count")
        guard blocks <= file.tensors.count else {
            throw ModelsError.invalidConfiguration(
                file: url.path, reason: "\(arch).block_count is \(blocks) but the file holds \(file.tensors.count) tensors")
        }
        var config = LlamaConfiguration(
            modelType: arch, vocabSize: vocab, hiddenSize: hidden,
            intermediateSize: try m.int("\(arch).feed_forward_length"),
            numHiddenLayers: blocks,
            numAttentionHeads: heads,
            numKeyValueHeads: try m.int("\(arch).attention.head_count_kv", default: heads),
            headDim: try m.int("\(arch).attention.key_length", default: heads > 0 ? hidden / heads : 0),
            maxPositionEmbeddings: try m.int("\(arch).context_length"),
            rmsNormEps: Float(try m.float("\(arch).attention.layer_norm_rms_epsilon")),
            ropeTheta: Float(try m.float("\(arch).rope.freq_base", default: 10000)),
            tieWordEmbeddings: !file.contains("output.weight"),
            bosTokenId: m.contains("tokenizer.ggml.bos_token_id") ? try m.int("tokenizer.ggml.bos_token_id") : nil,
            eosTokenIds: m.contains("tokenizer.ggml.eos_token_id") ? [try m.int("tokenizer.ggml.eos_token_id")] : [])
        if m.contains("\(arch).rope.dimension_count"), try m.int("\(arch).rope.dimension_count") != config.headDim {
            throw ModelsError.unsupported(key: "\(arch).rope.dimension_count",
                                          value: "\(try m.int("\(arch).rope.dimension_count")) (partial rotary)", file: url.path)
        }
        if m.contains("\(arch).rope.scaling.type"), try m.string("\(arch).rope.scaling.type") != "none" {
            config.ropeType = try m.string("\(arch).rope.scaling.type")
        }
        if arch == "gemma3" { try Gemma3Configuration.readGGUF(m, into: &config, file: url.path) }
        // Only llama's converter permutes Q/K (see Options.ropeLayout); qwen2/qwen3/gemma3 GGUFs use NEOX rotation.
        let layout: RoPELayout = arch == "llama" ? .interleaved : .neox
        let source = LlamaWeightSource(
            file: url.path,
            // Decode-friendly layout; the mapped originals are dropped so memory holds one copy.
            matrix: { name in file.contains(name) ? try file.tensor(named: name).quantizedMatrix().interleaved(releasingSource: true) : nil },
            vector: { name in file.contains(name) ? try file.tensor(named: name).dequantized().data : nil },
            names: .gguf)
        try self.init(configuration: config, options: Options(ropeLayout: layout, architecture: arch),
                      requirements: Requirements(qkvBias: arch == "qwen2", qkNorm: arch == "qwen3" || arch == "gemma3",
                                                 outputNorms: arch == "gemma3"),
                      source: source)
    }
}
