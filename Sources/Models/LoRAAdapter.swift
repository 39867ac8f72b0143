import Randomness
import Foundation
import ModelFormats
import Tensor

// LoRA adapters of Llama-family decoders in PEFT's on-disk format, so that
// `peft.PeftModel.from_pretrained` loads what `limrank train` writes and
// limrank loads what PEFT wrote:
//   adapter_config.json        r, lora_alpha, target_modules, lora_dropout, ...
//   adapter_model.safetensors  base_model.model.model.layers.{i}.{self_attn|mlp}.{q_proj|...}.lora_{A|B}.weight
// A is (r, in), B is (out, r) and the layer computes
//   y = x Wᵀ + b + (alpha / r) · (x Aᵀ) Bᵀ.
// The type lives in Models because inference (`--adapter`) merges it into the
// weights; Training updates its matrices.

/// One of the seven linear layers of a Llama block that LoRA can adapt.
public enum LoRATarget: String, Sendable, CaseIterable, Codable {
    case q, k, v, o, gate, up, down

    /// PEFT's / transformers' module name.
    public var moduleName: String {
        switch self {
        case .q: return "q_proj"
        case .k: return "k_proj"
        case .v: return "v_proj"
        case .o: return "o_proj"
        case .gate: return "gate_proj"
        case .up: return "up_proj"
        case .down: return "down_proj"
        }
    }

    /// The block sub-module holding it.
    public var parentName: String {
        switch self {
        case .q, .k, .v, .o: return "self_attn"
        case .gate, .up, .down: return "mlp"
        }
    }

    /// Accepts `q`, `q_proj`, `gate`, `gate_proj`, ...
    public init?(name: String) {
        let bare = name.hasSuffix("_proj") ? String(name.dropLast(5)) : name
        self.init(rawValue: bare)
    }

    /// (out, in) of the weight for a configuration.
    public func shape(_ c: LlamaConfiguration) -> (rows: Int, cols: Int) {
        let q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        switch self {
        case .q: return (q, c.hiddenSize)
        case .k, .v: return (kv, c.hiddenSize)
        case .o: return (c.hiddenSize, q)
        case .gate, .up: return (c.intermediateSize, c.hiddenSize)
        case .down: return (c.hiddenSize, c.intermediateSize)
        }
    }
}

/// Hyper-parameters of an adapter (what adapter_config.json records).
public struct LoRAConfiguration: Sendable, Equatable, Codable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targets: [LoRATarget]

    public init(rank: Int = 32, alpha: Float = 64, dropout: Float = 0, targets: [LoRATarget] = LoRATarget.allCases) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
    }

    /// PEFT's (non-rs) scaling alpha / r.
    public var scaling: Float { alpha / Float(rank) }
}

/// The A and B matrices of one adapted linear layer.
public struct LoRAPair: Sendable, Equatable {
    public var layer: Int
    public var target: LoRATarget
    /// in / out features of the adapted weight.
    public var inFeatures: Int, outFeatures: Int
    /// (rank, in), row-major.
    public var a: [Float]
    /// (out, rank), row-major.
    public var b: [Float]

    public init(layer: Int, target: LoRATarget, inFeatures: Int, outFeatures: Int, a: [Float], b: [Float]) {
        self.layer = layer
        self.target = target
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.a = a
        self.b = b
    }

    /// PEFT's key prefix, e.g. `base_model.model.model.layers.3.self_attn.q_proj`.
    public var keyPrefix: String { "base_model.model.model.layers.\(layer).\(target.parentName).\(target.moduleName)" }
    public var keyA: String { keyPrefix + ".lora_A.weight" }
    public var keyB: String { keyPrefix + ".lora_B.weight" }
}

/// A LoRA adapter over every layer of a decoder.
public struct LoRAAdapter: Sendable, Equatable {
    public var configuration: LoRAConfiguration
    /// Layer-major, targets in `configuration.targets` order.
    public var pairs: [LoRAPair]
    /// `base_model_name_or_path` to record (informational).
    public var baseModel: String?

    public init(configuration: LoRAConfiguration, pairs: [LoRAPair], baseModel: String? = nil) {
        self.configuration = configuration
        self.pairs = pairs
        self.baseModel = baseModel
    }

    /// PEFT's initialisation: A ~ kaiming_uniform(a = √5) = U(±1/√in), B = 0,
    /// from a seeded generator (SplitMix64) so a run is reproducible.
    public init(configuration: LoRAConfiguration, model c: LlamaConfiguration, seed: UInt64, baseModel: String? = nil) throws {
        guard configuration.rank > 0 else { throw ModelsError.invalidInput("LoRA rank must be positive, got \(configuration.rank)") }
        guard !configuration.targets.isEmpty else { throw ModelsError.invalidInput("no LoRA target modules") }
        var rng = SplitMix64(seed: seed)
        // Uniform [0, 1) with 24 bits.
        func next() -> Float { Float(rng.next() >> 40) / Float(1 << 24) }
        var pairs: [LoRAPair] = []
        for l in 0..<c.numHiddenLayers {
            for t in configuration.targets {
                let (rows, cols) = t.shape(c)
                let bound = 1 / Float(cols).squareRoot()
                let a = (0..<(configuration.rank * cols)).map { _ in (2 * next() - 1) * bound }
                pairs.append(LoRAPair(layer: l, target: t, inFeatures: cols, outFeatures: rows, a: a,
                                      b: [Float](repeating: 0, count: rows * configuration.rank)))
            }
        }
        self.init(configuration: configuration, pairs: pairs, baseModel: baseModel)
    }

    /// Index of (layer, target) in `pairs`, or nil when not adapted.
    public func index(layer: Int, target: LoRATarget) -> Int? {
        guard let t = configuration.targets.firstIndex(of: target) else { return nil }
        let i = layer * configuration.targets.count + t
        return i < pairs.count && pairs[i].layer == layer && pairs[i].target == target ? i : nil
    }

    /// Checks that every pair fits `c` (shapes, layer count).
    public func validate(against c: LlamaConfiguration, file: String) throws {
        guard pairs.count == c.numHiddenLayers * configuration.targets.count else {
            throw ModelsError.invalidConfiguration(
                file: file, reason: "adapter has \(pairs.count) LoRA pairs; the model's \(c.numHiddenLayers) layers x \(configuration.targets.count) targets need \(c.numHiddenLayers * configuration.targets.count)")
        }
        let r = configuration.rank
        for p in pairs {
            let (rows, cols) = p.target.shape(c)
            guard p.inFeatures == cols, p.outFeatures == rows, p.a.count == r * cols, p.b.count == rows * r else {
                throw ModelsError.shapeMismatch(tensor: p.keyPrefix, expected: [rows, cols],
                                                actual: [p.outFeatures, p.inFeatures], file: file)
            }
        }
    }

    /// delta = scaling · B · A, (out, in) row-major.
    public func delta(_ p: LoRAPair) -> [Float] {
        var d = [Float](repeating: 0, count: p.outFeatures * p.inFeatures)
        let r = configuration.rank
        p.b.withUnsafeBufferPointer { b in
            p.a.withUnsafeBufferPointer { a in
                d.withUnsafeMutableBufferPointer { o in
                    BLAS.sgemm(m: p.outFeatures, n: p.inFeatures, k: r, alpha: configuration.scaling,
                               a: b.baseAddress!, lda: r, b: a.baseAddress!, ldb: p.inFeatures,
                               c: o.baseAddress!, ldc: p.inFeatures)
                }
            }
        }
        return d
    }

    // MARK: PEFT files

    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"

    /// The fields of adapter_config.json this reader understands; anything
    /// that changes the arithmetic and is not supported is refused.
    struct PEFTConfig: Codable {
        var peftType: String?
        var r: Int
        var loraAlpha: Float
        var loraDropout: Float?
        var targetModules: [String]
        var useRslora: Bool?
        var useDora: Bool?
        var fanInFanOut: Bool?
        var bias: String?
        var taskType: String?
        var baseModelNameOrPath: String?
        var inferenceMode: Bool?
        var initLoraWeights: Bool?
        var modulesToSave: [String]?
        var rankPattern: [String: Int]?
        var alphaPattern: [String: Float]?

        enum CodingKeys: String, CodingKey {
            case peftType = "peft_type", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
            case targetModules = "target_modules", useRslora = "use_rslora", useDora = "use_dora"
            case fanInFanOut = "fan_in_fan_out", bias, taskType = "task_type"
            case baseModelNameOrPath = "base_model_name_or_path", inferenceMode = "inference_mode"
            case initLoraWeights = "init_lora_weights", modulesToSave = "modules_to_save"
            case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
        }
    }

    /// Reads a PEFT adapter directory for a model of configuration `c`.
    public init(directory: URL, model c: LlamaConfiguration) throws {
        let configURL = directory.appendingPathComponent(Self.configFileName)
        guard let data = FileManager.default.contents(atPath: configURL.path) else { throw ModelsError.missingFile(path: configURL.path) }
        let pc: PEFTConfig
        do {
            pc = try JSONDecoder().decode(PEFTConfig.self, from: data)
        } catch {
            throw ModelsError.invalidConfiguration(file: configURL.path, reason: "\(error)")
        }
        let file = configURL.path
        if let t = pc.peftType, t != "LORA" { throw ModelsError.unsupported(key: "peft_type", value: t, file: file) }
        if pc.useRslora == true { throw ModelsError.unsupported(key: "use_rslora", value: "true", file: file) }
        if pc.useDora == true { throw ModelsError.unsupported(key: "use_dora", value: "true", file: file) }
        if pc.fanInFanOut == true { throw ModelsError.unsupported(key: "fan_in_fan_out", value: "true", file: file) }
        if let b = pc.bias, b != "none" { throw ModelsError.unsupported(key: "bias", value: b, file: file) }
        if let m = pc.modulesToSave, !m.isEmpty { throw ModelsError.unsupported(key: "modules_to_save", value: m.joined(separator: ","), file: file) }
        if let p = pc.rankPattern, !p.isEmpty { throw ModelsError.unsupported(key: "rank_pattern", value: "\(p)", file: file) }
        if let p = pc.alphaPattern, !p.isEmpty { throw ModelsError.unsupported(key: "alpha_pattern", value: "\(p)", file: file) }
        var targets: [LoRATarget] = []
        for name in pc.targetModules {
            guard let t = LoRATarget(name: name) else { throw ModelsError.unsupported(key: "target_modules", value: name, file: file) }
            if !targets.contains(t) { targets.append(t) }
        }
        // A canonical order (PEFT writes a set in arbitrary order).
        targets = LoRATarget.allCases.filter(targets.contains)
        let configuration = LoRAConfiguration(rank: pc.r, alpha: pc.loraAlpha, dropout: pc.loraDropout ?? 0, targets: targets)
        let weightsURL = directory.appendingPathComponent(Self.weightsFileName)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw ModelsError.missingFile(path: weightsURL.path + (FileManager.default.fileExists(
                atPath: directory.appendingPathComponent("adapter_model.bin").path) ? " (adapter_model.bin is not supported)" : ""))
        }
        let st = try SafeTensors(contentsOf: weightsURL)
        var pairs: [LoRAPair] = []
        let r = configuration.rank
        for l in 0..<c.numHiddenLayers {
            for t in targets {
                let (rows, cols) = t.shape(c)
                var p = LoRAPair(layer: l, target: t, inFeatures: cols, outFeatures: rows, a: [], b: [])
                for (key, shape) in [(p.keyA, [r, cols]), (p.keyB, [rows, r])] {
                    // PEFT files saved with an adapter name keep ".default" in some versions.
                    let name = st.contains(key) ? key : key.replacingOccurrences(of: ".weight", with: ".default.weight")
                    guard st.contains(name) else { throw ModelsError.missingTensor(name: key, file: weightsURL.path) }
                    let tensor = try st.tensor(named: name)
                    guard tensor.shape == shape else {
                        throw ModelsError.shapeMismatch(tensor: key, expected: shape, actual: tensor.shape, file: weightsURL.path)
                    }
                    if key == p.keyA { p.a = tensor.data } else { p.b = tensor.data }
                }
                pairs.append(p)
            }
        }
        let known = Set(pairs.flatMap { [$0.keyA, $0.keyB] })
        if let extra = st.names.first(where: { !known.contains($0) && !known.contains($0.replacingOccurrences(of: ".default.weight", with: ".weight")) }) {
            throw ModelsError.invalidConfiguration(file: weightsURL.path, reason: "tensor '\(extra)' is not a LoRA matrix of this model's \(c.numHiddenLayers) layers")
        }
        self.init(configuration: configuration, pairs: pairs, baseModel: pc.baseModelNameOrPath)
    }
}

// MARK: - Merging into a model (inference with `--adapter`)

extension LlamaModel {
    /// The model with W + (alpha/r)·B·A for every adapted matrix, the merged
    /// matrices stored as f32 (so each adapted weight costs 4 bytes per
    /// element instead of its quantised size: about 4x the Q4 weights of the
    /// adapted layers for SmolLM2, ~0.5 GB with all seven targets). Quantised
    /// untouched matrices stay as they were. A llama GGUF keeps llama.cpp's
    /// permuted Q/K rows (see `Options.ropeLayout`), so the deltas of q and k
    /// are permuted the same way before they are added.
    public func merging(_ adapter: LoRAAdapter, file: String = "adapter") throws -> LlamaModel {
        try adapter.validate(against: configuration, file: file)
        var out = self
        let c = configuration
        for p in adapter.pairs {
            var layer = out.layers[p.layer]
            var delta = adapter.delta(p)
            if options.ropeLayout == .interleaved, p.target == .q || p.target == .k {
                delta = LlamaModel.permuteRowsForInterleavedRoPE(delta, rows: p.outFeatures, cols: p.inFeatures, headDim: c.headDim)
            }
            func merged(_ w: QuantizedMatrix) throws -> QuantizedMatrix {
                var dense = w.dequantize().data
                for i in 0..<dense.count { dense[i] += delta[i] }
                let bytes = dense.withUnsafeBytes { Array($0) }
                return try QuantizedMatrix(type: .f32, rows: w.rows, cols: w.cols, bytes: bytes, name: p.keyPrefix)
            }
            switch p.target {
            case .q: layer.query = try merged(layer.query)
            case .k: layer.key = try merged(layer.key)
            case .v: layer.value = try merged(layer.value)
            case .o: layer.output = try merged(layer.output)
            case .gate: layer.gate = try merged(layer.gate)
            case .up: layer.up = try merged(layer.up)
            case .down: layer.down = try merged(layer.down)
            }
            out.layers[p.layer] = layer
        }
        return out
    }

    /// HF row order -> llama.cpp's: within each head, row j·(d/2) + i becomes 2i + j.
    public static func permuteRowsForInterleavedRoPE(_ w: [Float], rows: Int, cols: Int, headDim d: Int) -> [Float] {
        moveRowsForInterleavedRoPE(w, rows: rows, cols: cols, headDim: d, toInterleaved: true)
    }

    /// llama.cpp's row order -> HF's (the inverse of `permuteRowsForInterleavedRoPE`).
    public static func unpermuteRowsForInterleavedRoPE(_ w: [Float], rows: Int, cols: Int, headDim d: Int) -> [Float] {
        moveRowsForInterleavedRoPE(w, rows: rows, cols: cols, headDim: d, toInterleaved: false)
    }

    /// One row mapping serves both directions: HF row j·(d/2) + i <-> llama.cpp row 2i + j.
    private static func moveRowsForInterleavedRoPE(_ w: [Float], rows: Int, cols: Int, headDim d: Int,
                                                   toInterleaved: Bool) -> [Float] {
        var out = w
        let half = d / 2
        for h in 0..<(rows / d) {
            for j in 0..<2 {
                for i in 0..<half {
                    let hf = h * d + j * half + i, gg = h * d + 2 * i + j
                    let (src, dst) = toInterleaved ? (hf, gg) : (gg, hf)
                    out[(dst * cols)..<((dst + 1) * cols)] = w[(src * cols)..<((src + 1) * cols)]
                }
            }
        }
        return out
    }
}
