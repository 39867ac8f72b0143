import Foundation
import Models
import Tensor

/// One training sequence: token ids and which of them are targets
/// (`targets[i]` true when token i is predicted from position i − 1 and
/// counts in the loss: the answer tokens of SFT).
public struct TrainingSequence: Sendable, Equatable {
    public var tokens: [Int]
    public var targets: [Bool]

    public init(tokens: [Int], targets: [Bool]) {
        self.tokens = tokens
        self.targets = targets
    }

    /// Tokens that count in the loss (the first token never does: nothing predicts it).
    public var targetCount: Int { targets.dropFirst().reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Forward and backward passes of a Llama-family decoder (Llama, Qwen2 with
/// q/k/v biases, Qwen3 with q/k RMSNorm, Gemma 3 with its output norms,
/// GeGLU, scaled embedding and sliding windows) with LoRA on its linear layers, for
/// supervised fine-tuning: frozen f32 base weights, gradients for the LoRA
/// A and B matrices only, loss = token cross-entropy at the target tokens.
///
/// Every projection is an sgemm over all n positions of a sequence (OpenBLAS,
/// split over cores by `BLAS.sgemm`); a sequence runs on its own (no padding).
/// Memory: a layer's activations (its "tape") are either kept from the
/// forward pass for the backward, or recomputed just before its backward from
/// the layer's input, the only thing then kept per layer (gradient
/// checkpointing per layer: ~1.3x the arithmetic, the activation memory of
/// one layer instead of all). `RecomputePolicy.auto` keeps the tapes when all
/// of them fit in `activationBudget` bytes for the sequence at hand: a
/// Cranfield pair in SmolLM2 (~350 tokens) needs ~0.5 GiB and trains ~1.35x
/// faster; a 2,500-token LimRank example needs ~9 GiB and is recomputed. The
/// vocabulary projection — the largest activation, (n, vocab) — runs only at
/// target positions, in chunks of `logitChunk` rows.
public struct LlamaLoRATrainer: Sendable {
    public enum RecomputePolicy: String, Sendable, CaseIterable {
        /// Recompute only when the tapes of all layers would exceed the budget.
        case auto
        case always
        case never
    }

    /// `auto`'s budget for all layers' tapes of one sequence.
    public static let defaultActivationBudget = 2 << 30

    public var weights: LlamaTrainingWeights
    public var recompute: RecomputePolicy
    public var activationBudget: Int
    public var logitChunk: Int

    public init(weights: LlamaTrainingWeights, recompute: RecomputePolicy = .auto,
                activationBudget: Int = LlamaLoRATrainer.defaultActivationBudget, logitChunk: Int = 128) {
        self.weights = weights
        self.recompute = recompute
        self.activationBudget = activationBudget
        self.logitChunk = max(1, logitChunk)
    }

    /// Bytes of the tapes of all layers for an n-token sequence (the buffers
    /// `LlamaLayerRecord` holds; LoRA's rank-wide inputs are left out, as small).
    public func activationBytes(tokens n: Int) -> Int {
        let c = configuration
        let H = c.hiddenSize, qW = c.numAttentionHeads * c.headDim, kvW = c.numKeyValueHeads * c.headDim, I = c.intermediateSize
        let qk = weights.layers.first?.queryNorm != nil ? qW + kvW : 0  // Qwen3 keeps q and k before their norms
        let outputs = weights.layers.first?.attentionOutputNorm != nil ? 2 * H : 0  // Gemma: outputs before their norms
        let perLayer = n * (5 * H + 2 * qW + 2 * kvW + 3 * I + qk + outputs) + c.numAttentionHeads * n * n
        return 4 * perLayer * c.numHiddenLayers
    }

    /// Whether the backward pass over an n-token sequence recomputes each layer.
    public func recomputes(tokens n: Int) -> Bool {
        switch recompute {
        case .always: return true
        case .never: return false
        case .auto: return activationBytes(tokens: n) > activationBudget
        }
    }

    public var configuration: LlamaConfiguration { weights.configuration }

    /// The sum of target-token cross-entropies and their count, without gradients.
    public func loss(_ sequence: TrainingSequence, lora: LoRAParameters) throws -> (sum: Double, count: Int) {
        try run(sequence, lora: lora, gradients: nil, lossScale: 0)
    }

    /// Runs forward and backward over one sequence: returns the sum of its
    /// target-token cross-entropies and their count, and adds the gradient of
    /// `lossScale` · that sum to `gradients` (so a batch whose targets number
    /// N uses lossScale = 1/N for the mean over the batch).
    public func accumulateGradients(_ sequence: TrainingSequence, lora: LoRAParameters, lossScale: Float,
                                    into gradients: LoRAParameters) throws -> (sum: Double, count: Int) {
        try run(sequence, lora: lora, gradients: gradients, lossScale: lossScale)
    }

    /// Logits (n, vocab) of every position (tests and round trips).
    public func logits(_ tokens: [Int], lora: LoRAParameters?) throws -> [Float] {
        try validate(tokens)
        let c = configuration, n = tokens.count, H = c.hiddenSize
        let layers = adaptedLayers(lora)
        var x = embed(tokens)
        for l in 0..<c.numHiddenLayers { x = forwardLayer(layers[l], input: x, n: n).output }
        let hn = FloatBuffer(copying: x.p, count: n * H)
        Kernels.rmsNorm(hn.p, rows: n, cols: H, weight: weights.finalNorm.p, eps: c.rmsNormEps)
        let out = FloatBuffer(count: n * c.vocabSize)
        BLAS.sgemm(transB: true, m: n, n: c.vocabSize, k: H, a: hn.p, lda: H, b: weights.head.p, ldb: H, c: out.p, ldc: c.vocabSize)
        return out.array
    }

    // MARK: - Implementation

    func validate(_ tokens: [Int]) throws {
        let c = configuration
        guard !tokens.isEmpty else { throw TrainingError.invalidParameter(name: "sequence", reason: "no tokens") }
        guard tokens.count <= c.maxPositionEmbeddings else {
            throw TrainingError.invalidParameter(name: "sequence", reason: "\(tokens.count) tokens exceed the model's \(c.maxPositionEmbeddings) positions")
        }
        for (i, t) in tokens.enumerated() where t < 0 || t >= c.vocabSize {
            throw TrainingError.invalidParameter(name: "sequence", reason: "token id \(t) at \(i) is outside the vocabulary of \(c.vocabSize)")
        }
    }

    func embed(_ tokens: [Int]) -> FloatBuffer {
        let H = configuration.hiddenSize
        let x = FloatBuffer(count: tokens.count * H)
        for (i, t) in tokens.enumerated() { (x.p + i * H).update(from: weights.embeddings.p + t * H, count: H) }
        if let s = configuration.embeddingScale { for i in 0..<x.count { x.p[i] *= s } }
        return x
    }

    func run(_ sequence: TrainingSequence, lora: LoRAParameters, gradients: LoRAParameters?, lossScale: Float) throws -> (sum: Double, count: Int) {
        let tokens = sequence.tokens
        try validate(tokens)
        guard sequence.targets.count == tokens.count else {
            throw TrainingError.invalidParameter(name: "sequence", reason: "\(sequence.targets.count) target flags for \(tokens.count) tokens")
        }
        let c = configuration, n = tokens.count, H = c.hiddenSize, L = c.numHiddenLayers
        // Positions t whose next token is a target.
        let positions = (0..<(n - 1)).filter { sequence.targets[$0 + 1] }
        guard !positions.isEmpty else { return (0, 0) }

        let recompute = recomputes(tokens: n)
        let layers = adaptedLayers(lora)
        var inputs: [FloatBuffer] = []  // layer inputs, kept for the backward pass
        var tapes: [LlamaLayerRecord] = []
        var x = embed(tokens)
        for l in 0..<L {
            let tape = forwardLayer(layers[l], input: x, n: n)
            if gradients != nil {
                inputs.append(x)
                if !recompute { tapes.append(tape) }
            }
            x = tape.output
        }
        let dx = gradients == nil ? nil : FloatBuffer(count: n * H)
        let sum = lossHead(x: x, tokens: tokens, positions: positions, scale: lossScale, dx: dx)
        guard let gradients, let dx else { return (sum, positions.count) }
        for l in stride(from: L - 1, through: 0, by: -1) {
            let tape = recompute ? forwardLayer(layers[l], input: inputs[l], n: n) : tapes[l]
            if !recompute { tapes.removeLast() }
            backwardLayer(l, tape: tape, dOut: dx, lora: lora, gradients: gradients)
        }
        return (sum, positions.count)
    }

    /// Final norm, vocabulary projection and cross-entropy at `positions`;
    /// writes d(scale · loss)/dx into dx's rows when given.
    func lossHead(x: FloatBuffer, tokens: [Int], positions: [Int], scale: Float, dx: FloatBuffer?) -> Double {
        let c = configuration, H = c.hiddenSize, V = c.vocabSize
        let chunk = min(logitChunk, positions.count)
        let rowsIn = FloatBuffer(count: chunk * H), normed = FloatBuffer(count: chunk * H)
        let logits = FloatBuffer(count: chunk * V), dNormed = FloatBuffer(count: chunk * H), dRows = FloatBuffer(count: chunk * H)
        var total: Double = 0
        var start = 0
        while start < positions.count {
            let part = Array(positions[start..<min(positions.count, start + chunk)])
            let m = part.count
            for (i, t) in part.enumerated() { (rowsIn.p + i * H).update(from: x.p + t * H, count: H) }
            normed.p.update(from: rowsIn.p, count: m * H)
            Kernels.rmsNorm(normed.p, rows: m, cols: H, weight: weights.finalNorm.p, eps: c.rmsNormEps)
            BLAS.sgemm(transB: true, m: m, n: V, k: H, a: normed.p, lda: H, b: weights.head.p, ldb: H, c: logits.p, ldc: V)
            total += DecoderBackwardKernels.crossEntropy(logits: logits.p, rows: m, vocab: V, targets: part.map { tokens[$0 + 1] }, scale: scale)
            if let dx {
                BLAS.sgemm(m: m, n: H, k: V, a: logits.p, lda: V, b: weights.head.p, ldb: H, c: dNormed.p, ldc: H)
                DecoderBackwardKernels.rmsNorm(x: rowsIn.p, dy: dNormed.p, weight: weights.finalNorm.p, rows: m, cols: H,
                                        eps: c.rmsNormEps, dx: dRows.p, accumulate: false)
                for (i, t) in part.enumerated() {
                    let d = dx.p + t * H, s = dRows.p + i * H
                    for j in 0..<H { d[j] += s[j] }
                }
            }
            start += m
        }
        return total
    }

    /// The base layers with this run's LoRA pairs wrapped around their
    /// projections (the buffers are shared: no weight is copied).
    func adaptedLayers(_ lora: LoRAParameters?) -> [LlamaDecoderLayer<LoRAProjection<DenseProjection>>] {
        weights.layers.enumerated().map { l, layer in
            layer.mapProjections { base, t in
                guard let lora, let s = lora.slot(layer: l, target: t) else { return LoRAProjection(base: base, adapter: nil) }
                return LoRAProjection(base: base, adapter: LoRAWeights(a: s.a, b: s.b, rank: lora.configuration.rank,
                                                                       scaling: lora.configuration.scaling))
            }
        }
    }

    /// Models' one layer forward, recording what `backwardLayer` reads.
    func forwardLayer(_ layer: LlamaDecoderLayer<LoRAProjection<DenseProjection>>, input: FloatBuffer, n: Int) -> LlamaLayerRecord {
        let record = LlamaLayerRecord(input: input, tokens: n, configuration: configuration, qkNorm: layer.queryNorm != nil,
                                      outputNorms: layer.attentionOutputNorm != nil)
        layer.forward(tokens: n, configuration: configuration, record: record)
        return record
    }

    /// dx (+)= dy W + scaling · (dy B) A; gradients of A and B accumulate.
    func linearBackward(_ l: Int, _ t: LoRATarget, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int,
                        dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                        lora: LoRAParameters, gradients: LoRAParameters, tape: LlamaLayerRecord) {
        let (out, inF) = t.shape(configuration)
        BLAS.sgemm(m: n, n: inF, k: out, a: dy, lda: out, b: weights.layers[l].projection(t).weight.p, ldb: inF,
                   beta: accumulate ? 1 : 0, c: dx, ldc: inF)
        guard let s = lora.slot(layer: l, target: t), let g = gradients.slot(layer: l, target: t),
              let xa = tape.projections[t]?.loraInput else { return }
        let r = lora.configuration.rank, scaling = lora.configuration.scaling
        // dB += scaling · dyᵀ (x Aᵀ)
        BLAS.sgemm(transA: true, m: out, n: r, k: n, alpha: scaling, a: dy, lda: out, b: xa.p, ldb: r,
                   beta: 1, c: g.b.p, ldc: r)
        let dyB = FloatBuffer(count: n * r)
        BLAS.sgemm(m: n, n: r, k: out, a: dy, lda: out, b: s.b.p, ldb: r, c: dyB.p, ldc: r)
        // dA += scaling · (dy B)ᵀ x
        BLAS.sgemm(transA: true, m: r, n: inF, k: n, alpha: scaling, a: dyB.p, lda: r, b: x, ldb: inF,
                   beta: 1, c: g.a.p, ldc: inF)
        // dx += scaling · (dy B) A
        BLAS.sgemm(m: n, n: inF, k: r, alpha: scaling, a: dyB.p, lda: r, b: s.a.p, ldb: inF,
                   beta: 1, c: dx, ldc: inF)
    }

    /// dOut: d loss / d layer output on entry, d loss / d layer input on return.
    func backwardLayer(_ l: Int, tape t: LlamaLayerRecord, dOut: FloatBuffer, lora: LoRAParameters, gradients: LoRAParameters) {
        let c = configuration, layer = weights.layers[l]
        let n = t.input.count / c.hiddenSize
        let H = c.hiddenSize, D = c.headDim, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let qW = heads * D, kvW = kvHeads * D, I = c.intermediateSize
        // Gemma: d loss / d (an output before its norm), through that norm.
        func throughOutputNorm(_ norm: FloatBuffer?, raw: FloatBuffer?, _ d: FloatBuffer) -> FloatBuffer {
            guard let norm, let raw else { return d }
            let dRaw = FloatBuffer(count: n * H)
            DecoderBackwardKernels.rmsNorm(x: raw.p, dy: d.p, weight: norm.p, rows: n, cols: H, eps: c.rmsNormEps, dx: dRaw.p, accumulate: false)
            return dRaw
        }
        // MLP
        let dAct = FloatBuffer(count: n * I)
        let dMlp = throughOutputNorm(layer.feedForwardOutputNorm, raw: t.mlpRaw, dOut)
        linearBackward(l, .down, dy: dMlp.p, x: t.act.p, n: n, dx: dAct.p, accumulate: false, lora: lora, gradients: gradients, tape: t)
        let dGate = FloatBuffer(count: n * I), dUp = FloatBuffer(count: n * I)
        if c.hiddenAct == "gelu_pytorch_tanh" {
            DecoderBackwardKernels.geluTanhMul(gate: t.gate.p, up: t.up.p, da: dAct.p, count: n * I, dGate: dGate.p, dUp: dUp.p)
        } else {
            DecoderBackwardKernels.siluMul(gate: t.gate.p, up: t.up.p, da: dAct.p, count: n * I, dGate: dGate.p, dUp: dUp.p)
        }
        let dh = FloatBuffer(count: n * max(H, qW))
        linearBackward(l, .gate, dy: dGate.p, x: t.h2.p, n: n, dx: dh.p, accumulate: false, lora: lora, gradients: gradients, tape: t)
        linearBackward(l, .up, dy: dUp.p, x: t.h2.p, n: n, dx: dh.p, accumulate: true, lora: lora, gradients: gradients, tape: t)
        // dOut becomes d loss / d middle.
        DecoderBackwardKernels.rmsNorm(x: t.middle.p, dy: dh.p, weight: layer.postAttentionNorm.p, rows: n, cols: H, eps: c.rmsNormEps,
                                dx: dOut.p, accumulate: true)
        // Attention
        let dContext = FloatBuffer(count: n * qW)
        let dAttention = throughOutputNorm(layer.attentionOutputNorm, raw: t.attentionRaw, dOut)
        linearBackward(l, .o, dy: dAttention.p, x: t.context.p, n: n, dx: dContext.p, accumulate: false, lora: lora, gradients: gradients, tape: t)
        let dq = FloatBuffer(count: n * qW), dk = FloatBuffer(count: n * kvW), dv = FloatBuffer(count: n * kvW)
        let scratch = FloatBuffer(count: n * n)
        DecoderBackwardKernels.attention(q: t.q.p, k: t.k.p, v: t.v.p, probabilities: t.probabilities.p, dContext: dContext.p,
                                  n: n, heads: heads, kvHeads: kvHeads, headDim: D, scale: c.attentionScale,
                                  dq: dq.p, dk: dk.p, dv: dv.p, scratch: scratch.p)
        let positions = Array(0..<n)
        let theta = layer.ropeTheta ?? c.ropeTheta
        DecoderBackwardKernels.rope(dq.p, tokens: n, heads: heads, headDim: D, positions: positions, theta: theta, layout: .neox)
        DecoderBackwardKernels.rope(dk.p, tokens: n, heads: kvHeads, headDim: D, positions: positions, theta: theta, layout: .neox)
        if let qn = layer.queryNorm, let kn = layer.keyNorm, let qRaw = t.qRaw, let kRaw = t.kRaw {
            let dqRaw = FloatBuffer(count: n * qW), dkRaw = FloatBuffer(count: n * kvW)
            DecoderBackwardKernels.rmsNorm(x: qRaw.p, dy: dq.p, weight: qn.p, rows: n * heads, cols: D, eps: c.rmsNormEps, dx: dqRaw.p, accumulate: false)
            DecoderBackwardKernels.rmsNorm(x: kRaw.p, dy: dk.p, weight: kn.p, rows: n * kvHeads, cols: D, eps: c.rmsNormEps, dx: dkRaw.p, accumulate: false)
            dq.p.update(from: dqRaw.p, count: n * qW)
            dk.p.update(from: dkRaw.p, count: n * kvW)
        }
        linearBackward(l, .q, dy: dq.p, x: t.h1.p, n: n, dx: dh.p, accumulate: false, lora: lora, gradients: gradients, tape: t)
        linearBackward(l, .k, dy: dk.p, x: t.h1.p, n: n, dx: dh.p, accumulate: true, lora: lora, gradients: gradients, tape: t)
        linearBackward(l, .v, dy: dv.p, x: t.h1.p, n: n, dx: dh.p, accumulate: true, lora: lora, gradients: gradients, tape: t)
        DecoderBackwardKernels.rmsNorm(x: t.input.p, dy: dh.p, weight: layer.inputNorm.p, rows: n, cols: H, eps: c.rmsNormEps,
                                dx: dOut.p, accumulate: true)
    }
}
