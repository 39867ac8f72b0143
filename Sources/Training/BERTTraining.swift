import Foundation
import Models
import Tensor

// BERT sequence classification (transformers' BertForSequenceClassification,
// num_labels = 1) trained with binary cross-entropy on logits, as
// sentence-transformers' CrossEncoder trains a reranker: a forward pass that
// keeps its activations and a hand-written backward pass.
//
// Activations are packed as in Models/BERT.swift: the valid tokens of every
// sequence sit back to back, so padding costs nothing and attention runs per
// sequence over its own tokens (what the padded reference's mask does).
// Dropout is not applied (the forward is the eval-mode one); see notes.

/// One (query, passage) pair encoded for training.
public struct BERTTrainingExample: Sendable, Equatable {
    public var inputIDs: [Int32]
    public var tokenTypeIDs: [Int32]
    /// 1 for relevant, 0 for not.
    public var label: Float

    public init(inputIDs: [Int32], tokenTypeIDs: [Int32], label: Float) {
        self.inputIDs = inputIDs
        self.tokenTypeIDs = tokenTypeIDs
        self.label = label
    }
}

/// Dropout probabilities of BERT in training mode (transformers' BertModel:
/// after the embeddings, on attention probabilities, on both sublayer outputs
/// before their residual, and before the classifier). Inverted dropout: kept
/// values are scaled by 1/(1−p).
public struct BERTDropout: Sendable, Equatable, Decodable {
    public var hidden: Float
    public var attention: Float
    public var classifier: Float

    public init(hidden: Float = 0, attention: Float = 0, classifier: Float? = nil) {
        self.hidden = hidden
        self.attention = attention
        self.classifier = classifier ?? hidden
    }

    public static let none = BERTDropout()

    enum CodingKeys: String, CodingKey {
        case hidden = "hidden_dropout_prob", attention = "attention_probs_dropout_prob", classifier = "classifier_dropout"
    }

    /// transformers' defaults (0.1, 0.1; classifier_dropout null means the hidden one).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let hidden = try c.decodeIfPresent(Float.self, forKey: .hidden) ?? 0.1
        self.init(hidden: hidden, attention: try c.decodeIfPresent(Float.self, forKey: .attention) ?? 0.1,
                  classifier: try c.decodeIfPresent(Float.self, forKey: .classifier))
    }

    /// The dropout a checkpoint directory's config.json declares.
    public static func load(from url: URL) throws -> BERTDropout {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TrainingError.unsupportedModel("cannot read \(url.path)")
        }
        do {
            return try JSONDecoder().decode(BERTDropout.self, from: data)
        } catch {
            throw TrainingError.unsupportedModel("\(url.path): \(error)")
        }
    }

    public var isActive: Bool { hidden > 0 || attention > 0 || classifier > 0 }
}

/// The trainable BERT cross-encoder: configuration plus its parameters, laid
/// out flat under transformers' key names.
public struct BERTTraining: Sendable {
    public let configuration: BERTConfiguration
    public var parameters: FlatParameters
    /// Applied in `lossAndGradients` when a mask seed is given; never in `logits`.
    public var dropout: BERTDropout = .none
    let layerSlots: [LayerSlots]
    let slots: ModelSlots

    /// Starts from a BERT checkpoint. A missing pooler or classifier (a plain
    /// BertModel such as all-MiniLM-L6-v2, which ships a pooler but no
    /// classifier) is initialised as transformers' `_init_weights` does:
    /// weights ~ N(0, 0.02²), biases 0, drawn from `rng`.
    public init(model: BERTModel, rng: inout TrainingRNG) throws {
        let c = model.configuration
        let H = c.hiddenSize
        if let labels = model.classifier?.outFeatures ?? c.numLabels, labels != 1 {
            throw TrainingError.unsupportedModel("cross-encoder training needs num_labels = 1 (a relevance logit), the checkpoint has \(labels)")
        }
        func normal(_ count: Int) -> [Float] { (0..<count).map { _ in Float(0.02 * rng.nextNormal()) } }
        var p = FlatParameters()
        let e = model.embeddings
        p.append("bert.embeddings.word_embeddings.weight", shape: [c.vocabSize, H], values: e.wordEmbeddings)
        p.append("bert.embeddings.position_embeddings.weight", shape: [c.maxPositionEmbeddings, H], values: e.positionEmbeddings)
        p.append("bert.embeddings.token_type_embeddings.weight", shape: [c.typeVocabSize, H], values: e.tokenTypeEmbeddings)
        p.append("bert.embeddings.LayerNorm.weight", shape: [H], values: e.layerNorm.weight)
        p.append("bert.embeddings.LayerNorm.bias", shape: [H], values: e.layerNorm.bias)
        for (i, layer) in model.layers.enumerated() {
            let n = "bert.encoder.layer.\(i)."
            let qkv = layer.attention.queryKeyValue
            // Query, key and value adjacent (weights, then biases): one (3H, H) product.
            for (j, part) in ["query", "key", "value"].enumerated() {
                p.append(n + "attention.self.\(part).weight", shape: [H, H], values: Array(qkv.weight[(j * H * H)..<((j + 1) * H * H)]))
            }
            for (j, part) in ["query", "key", "value"].enumerated() {
                p.append(n + "attention.self.\(part).bias", shape: [H], values: Array(qkv.bias[(j * H)..<((j + 1) * H)]))
            }
            p.append(n + "attention.output.dense.weight", shape: [H, H], values: layer.attention.output.weight)
            p.append(n + "attention.output.dense.bias", shape: [H], values: layer.attention.output.bias)
            p.append(n + "attention.output.LayerNorm.weight", shape: [H], values: layer.attention.layerNorm.weight)
            p.append(n + "attention.output.LayerNorm.bias", shape: [H], values: layer.attention.layerNorm.bias)
            p.append(n + "intermediate.dense.weight", shape: [c.intermediateSize, H], values: layer.intermediate.weight)
            p.append(n + "intermediate.dense.bias", shape: [c.intermediateSize], values: layer.intermediate.bias)
            p.append(n + "output.dense.weight", shape: [H, c.intermediateSize], values: layer.output.weight)
            p.append(n + "output.dense.bias", shape: [H], values: layer.output.bias)
            p.append(n + "output.LayerNorm.weight", shape: [H], values: layer.outputLayerNorm.weight)
            p.append(n + "output.LayerNorm.bias", shape: [H], values: layer.outputLayerNorm.bias)
        }
        p.append("bert.pooler.dense.weight", shape: [H, H], values: model.pooler?.weight ?? normal(H * H))
        p.append("bert.pooler.dense.bias", shape: [H], values: model.pooler?.bias ?? [Float](repeating: 0, count: H))
        p.append("classifier.weight", shape: [1, H], values: model.classifier?.weight ?? normal(H))
        p.append("classifier.bias", shape: [1], values: model.classifier?.bias ?? [0])
        try self.init(configuration: c, parameters: p)
    }

    /// Wraps parameters laid out by `init(model:rng:)` (e.g. restored from a checkpoint).
    public init(configuration: BERTConfiguration, parameters: FlatParameters) throws {
        self.configuration = configuration
        self.parameters = parameters
        func offset(_ name: String) throws -> Int {
            guard let s = parameters.slot(name) else { throw TrainingError.unsupportedModel("parameter \(name) is missing") }
            return s.offset
        }
        layerSlots = try (0..<configuration.numHiddenLayers).map { i in
            let n = "bert.encoder.layer.\(i)."
            return LayerSlots(
                qkvWeight: try offset(n + "attention.self.query.weight"), qkvBias: try offset(n + "attention.self.query.bias"),
                attentionOutputWeight: try offset(n + "attention.output.dense.weight"),
                attentionOutputBias: try offset(n + "attention.output.dense.bias"),
                attentionNormWeight: try offset(n + "attention.output.LayerNorm.weight"),
                attentionNormBias: try offset(n + "attention.output.LayerNorm.bias"),
                intermediateWeight: try offset(n + "intermediate.dense.weight"), intermediateBias: try offset(n + "intermediate.dense.bias"),
                outputWeight: try offset(n + "output.dense.weight"), outputBias: try offset(n + "output.dense.bias"),
                outputNormWeight: try offset(n + "output.LayerNorm.weight"), outputNormBias: try offset(n + "output.LayerNorm.bias"))
        }
        slots = ModelSlots(
            word: try offset("bert.embeddings.word_embeddings.weight"), position: try offset("bert.embeddings.position_embeddings.weight"),
            tokenType: try offset("bert.embeddings.token_type_embeddings.weight"),
            embeddingNormWeight: try offset("bert.embeddings.LayerNorm.weight"), embeddingNormBias: try offset("bert.embeddings.LayerNorm.bias"),
            poolerWeight: try offset("bert.pooler.dense.weight"), poolerBias: try offset("bert.pooler.dense.bias"),
            classifierWeight: try offset("classifier.weight"), classifierBias: try offset("classifier.bias"))
    }

    struct LayerSlots: Sendable {
        var qkvWeight, qkvBias, attentionOutputWeight, attentionOutputBias, attentionNormWeight, attentionNormBias: Int
        var intermediateWeight, intermediateBias, outputWeight, outputBias, outputNormWeight, outputNormBias: Int
    }

    struct ModelSlots: Sendable {
        var word, position, tokenType, embeddingNormWeight, embeddingNormBias: Int
        var poolerWeight, poolerBias, classifierWeight, classifierBias: Int
    }

    /// A packed batch: tokens of all sequences back to back.
    public struct Batch: Sendable {
        public var ids: [Int32]
        public var types: [Int32]
        public var positions: [Int32]
        public var sequences: [Range<Int>]
        public var labels: [Float]
        public var tokenCount: Int { ids.count }
    }

    /// Packs examples, checking ids against the configuration.
    public func batch(_ examples: [BERTTrainingExample]) throws -> Batch {
        var b = Batch(ids: [], types: [], positions: [], sequences: [], labels: [])
        for (i, e) in examples.enumerated() {
            guard !e.inputIDs.isEmpty, e.inputIDs.count == e.tokenTypeIDs.count else {
                throw TrainingError.invalidParameter(name: "example \(i)", reason: "\(e.inputIDs.count) ids, \(e.tokenTypeIDs.count) token types")
            }
            guard e.inputIDs.count <= configuration.maxPositionEmbeddings else {
                throw TrainingError.invalidParameter(name: "example \(i)", reason: "\(e.inputIDs.count) tokens, the model has \(configuration.maxPositionEmbeddings) positions")
            }
            let start = b.ids.count
            for (j, (id, type)) in zip(e.inputIDs, e.tokenTypeIDs).enumerated() {
                guard id >= 0, Int(id) < configuration.vocabSize, type >= 0, Int(type) < configuration.typeVocabSize else {
                    throw TrainingError.invalidParameter(name: "example \(i)", reason: "token \(id) / type \(type) out of range")
                }
                b.ids.append(id)
                b.types.append(type)
                b.positions.append(Int32(j))
            }
            b.sequences.append(start..<b.ids.count)
            b.labels.append(e.label)
        }
        return b
    }

    /// Mean binary cross-entropy over the batch's logits (numerically stable form).
    public static func binaryCrossEntropy(logits: [Float], labels: [Float]) -> Float {
        guard !logits.isEmpty else { return 0 }
        var sum = 0.0
        for (z, y) in zip(logits, labels) {
            let zd = Double(z), yd = Double(y)
            sum += max(zd, 0) - zd * yd + Foundation.log1p(Foundation.exp(-abs(zd)))
        }
        return Float(sum / Double(logits.count))
    }

    /// Logits of a batch (forward only).
    public func logits(_ batch: Batch) -> [Float] {
        var scratch = [Float]()
        return run(batch, backward: false, lossScale: 1, dropoutSeed: nil, gradients: &scratch)
    }

    /// Forward and backward over one (micro-)batch: returns the mean BCE loss
    /// and the logits, and ADDS the gradient of `lossScale · loss` into
    /// `gradients` (same layout as `parameters.values`), so micro-batches
    /// accumulate. Use lossScale = 1/micro-batches for an averaged step.
    ///
    /// `dropoutSeed` draws this call's dropout masks (`dropout`; none when nil):
    /// derive it from (run seed, step, micro-batch) so a resumed run draws the same.
    public func lossAndGradients(_ batch: Batch, lossScale: Float = 1, dropoutSeed: UInt64? = nil,
                                 gradients: inout [Float]) -> (loss: Float, logits: [Float]) {
        precondition(gradients.count == parameters.count, "gradient buffer does not match the parameters")
        let logits = run(batch, backward: true, lossScale: lossScale, dropoutSeed: dropoutSeed, gradients: &gradients)
        return (Self.binaryCrossEntropy(logits: logits, labels: batch.labels), logits)
    }

    // MARK: - Forward and backward

    private func run(_ batch: Batch, backward: Bool, lossScale: Float, dropoutSeed: UInt64?, gradients: inout [Float]) -> [Float] {
        let T = batch.tokenCount, B = batch.sequences.count
        guard T > 0, B > 0 else { return [] }
        return parameters.values.withUnsafeBufferPointer { pv in
            let P = pv.baseAddress!
            if backward {
                return gradients.withUnsafeMutableBufferPointer { gv in
                    Pass(model: self, batch: batch, P: P, dropoutSeed: dropout.isActive ? dropoutSeed : nil)
                        .run(gradients: gv.baseAddress!, lossScale: lossScale)
                }
            }
            return Pass(model: self, batch: batch, P: P, dropoutSeed: nil).run(gradients: nil, lossScale: lossScale)
        }
    }
}

/// Owned f32 scratch, freed with its owner.
final class Scratch {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int, zeroed: Bool = false) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: max(count, 1)) }
    }
    deinit { pointer.deallocate() }
    func zero() { pointer.update(repeating: 0, count: count) }

    /// Inverted-dropout mask: 0 with probability p, else 1/(1−p).
    static func mask(_ count: Int, probability p: Float, rng: inout TrainingRNG) -> Scratch? {
        guard p > 0 else { return nil }
        let m = Scratch(count)
        let keep = 1 / (1 - p), threshold = Double(p)
        for i in 0..<count { m.pointer[i] = rng.nextUnit() < threshold ? 0 : keep }
        return m
    }
}

/// x[i] *= mask[i] when there is a mask.
private func applyMask(_ x: UnsafeMutablePointer<Float>, _ mask: Scratch?, count: Int) {
    guard let mask else { return }
    let m = mask.pointer
    for i in 0..<count { x[i] *= m[i] }
}

/// One forward (and optionally backward) pass, holding the activations.
private struct Pass {
    let model: BERTTraining
    let batch: BERTTraining.Batch
    let P: UnsafePointer<Float>
    let T: Int, H: Int, I: Int, heads: Int, headDim: Int, layers: Int, B: Int
    /// Start of each sequence's (heads, n, n) block in a layer's probabilities.
    let probabilityOffsets: [Int]
    let probabilityCount: Int
    let dropout: BERTDropout
    let dropoutSeed: UInt64?

    init(model: BERTTraining, batch: BERTTraining.Batch, P: UnsafePointer<Float>, dropoutSeed: UInt64?) {
        self.model = model
        self.dropout = dropoutSeed == nil ? .none : model.dropout
        self.dropoutSeed = dropoutSeed
        self.batch = batch
        self.P = P
        let c = model.configuration
        T = batch.tokenCount
        H = c.hiddenSize
        I = c.intermediateSize
        heads = c.numAttentionHeads
        headDim = c.headDimension
        layers = c.numHiddenLayers
        B = batch.sequences.count
        var offsets = [Int](), total = 0
        for s in batch.sequences {
            offsets.append(total)
            total += heads * s.count * s.count
        }
        probabilityOffsets = offsets
        probabilityCount = total
    }

    struct LayerActivations {
        let input: Scratch  // (T, H) layer input
        let qkv: Scratch  // (T, 3H)
        let probabilities: Scratch  // Σ heads·n²
        let context: Scratch  // (T, H)
        let normalized1: Scratch, inverseStd1: Scratch, hidden1: Scratch  // attention LayerNorm
        let intermediate: Scratch  // (T, I) before GELU
        let activation: Scratch  // (T, I) after GELU: the output dense's input, and Φ for GELU's backward
        let normalized2: Scratch, inverseStd2: Scratch  // output LayerNorm
        /// Dropout masks: attention probabilities, attention output, feed-forward output.
        let attentionMask: Scratch?, attentionOutputMask: Scratch?, outputMask: Scratch?
    }

    func run(gradients G: UnsafeMutablePointer<Float>?, lossScale: Float) -> [Float] {
        let eps = model.configuration.layerNormEps
        let s = model.slots
        // Embeddings.
        let embedded = Scratch(T * H)
        let e0 = embedded.pointer
        let ids = batch.ids, types = batch.types, positions = batch.positions
        let word = P + s.word, position = P + s.position, tokenType = P + s.tokenType
        let H = self.H
        Parallel.forEach(0..<T, minimumChunk: 64) { range in
            for t in range {
                let w = word + Int(ids[t]) * H, p = position + Int(positions[t]) * H, y = tokenType + Int(types[t]) * H
                let out = e0 + t * H
                for c in 0..<H { out[c] = w[c] + p[c] + y[c] }
            }
        }
        let normalized0 = Scratch(T * H), inverseStd0 = Scratch(T)
        var hidden = Scratch(T * H)
        BackwardKernels.layerNormForward(e0, rows: T, cols: H, gamma: P + s.embeddingNormWeight, beta: P + s.embeddingNormBias,
                                         epsilon: eps, output: hidden.pointer, normalized: normalized0.pointer, inverseStd: inverseStd0.pointer)
        var rng = TrainingRNG(seed: dropoutSeed ?? 0, stream: 0x4452_4F50)  // "DROP"
        let embeddingMask = Scratch.mask(T * H, probability: dropout.hidden, rng: &rng)
        applyMask(hidden.pointer, embeddingMask, count: T * H)
        var saved: [LayerActivations] = []
        // Scoring reuses one GELU buffer; training keeps each layer's (its backward reads it).
        let sharedActivation = G == nil ? Scratch(T * I) : nil
        for l in 0..<layers {
            let a = forwardLayer(l, input: hidden, gelu: sharedActivation ?? Scratch(T * I), epsilon: eps, rng: &rng)
            if G != nil { saved.append(a.saved) }
            hidden = a.output
        }
        // Pooler over each sequence's first token, then the classifier.
        let first = Scratch(B * H), pooled = Scratch(B * H)
        for (b, seq) in batch.sequences.enumerated() {
            (first.pointer + b * H).update(from: hidden.pointer + seq.lowerBound * H, count: H)
        }
        BLAS.sgemm(transB: true, m: B, n: H, k: H, a: first.pointer, lda: H, b: P + s.poolerWeight, ldb: H, c: pooled.pointer, ldc: H)
        for b in 0..<B {
            for c in 0..<H { pooled.pointer[b * H + c] = Foundation.tanh(pooled.pointer[b * H + c] + P[s.poolerBias + c]) }
        }
        let classifierMask = Scratch.mask(B * H, probability: dropout.classifier, rng: &rng)
        let dropped = Scratch(B * H)  // the classifier's input
        dropped.pointer.update(from: pooled.pointer, count: B * H)
        applyMask(dropped.pointer, classifierMask, count: B * H)
        var logits = [Float](repeating: 0, count: B)
        for b in 0..<B {
            var z: Float = 0
            for c in 0..<H { z += dropped.pointer[b * H + c] * P[s.classifierWeight + c] }
            logits[b] = z + P[s.classifierBias]
        }
        guard let G else { return logits }

        // BCE-with-logits, mean over the batch: dz = (σ(z) − y) / B.
        let dPooled = Scratch(B * H)
        for b in 0..<B {
            let z = Double(logits[b])
            let sigma = z >= 0 ? 1 / (1 + Foundation.exp(-z)) : Foundation.exp(z) / (1 + Foundation.exp(z))
            let dz = Float((sigma - Double(batch.labels[b])) / Double(B)) * lossScale
            G[s.classifierBias] += dz
            for c in 0..<H {
                let p = pooled.pointer[b * H + c]
                G[s.classifierWeight + c] += dz * dropped.pointer[b * H + c]
                let m = classifierMask.map { $0.pointer[b * H + c] } ?? 1
                // tanh′ = 1 − tanh².
                dPooled.pointer[b * H + c] = dz * P[s.classifierWeight + c] * m * (1 - p * p)
            }
        }
        let dFirst = Scratch(B * H)
        BackwardKernels.linearBackward(dy: dPooled.pointer, input: first.pointer, weight: P + s.poolerWeight, rows: B,
                                       inFeatures: H, outFeatures: H, dWeight: G + s.poolerWeight, dBias: G + s.poolerBias,
                                       dx: dFirst.pointer)
        let dHidden = Scratch(T * H, zeroed: true)
        for (b, seq) in batch.sequences.enumerated() {
            (dHidden.pointer + seq.lowerBound * H).update(from: dFirst.pointer + b * H, count: H)
        }
        let work = BackwardWork(T: T, H: H, I: I, probabilities: probabilityCount)
        for l in stride(from: layers - 1, through: 0, by: -1) {
            backwardLayer(l, saved[l], dHidden: dHidden, G: G, work: work)
        }
        // Embedding dropout and LayerNorm, then scatter into the three tables.
        applyMask(dHidden.pointer, embeddingMask, count: T * H)
        let dEmbedded = work.dA
        BackwardKernels.layerNormBackward(dHidden.pointer, normalized: normalized0.pointer, inverseStd: inverseStd0.pointer,
                                          gamma: P + s.embeddingNormWeight, rows: T, cols: H, dx: dEmbedded.pointer,
                                          dGamma: G + s.embeddingNormWeight, dBeta: G + s.embeddingNormBias)
        let gWord = G + s.word, gPosition = G + s.position, gType = G + s.tokenType
        let d = dEmbedded.pointer
        // Split over columns: a token id may repeat, so rows would race.
        Parallel.forEach(0..<H, minimumChunk: 32) { cols in
            for t in 0..<T {
                let src = d + t * H
                let w = gWord + Int(ids[t]) * H, p = gPosition + Int(positions[t]) * H, y = gType + Int(types[t]) * H
                for c in cols {
                    w[c] += src[c]
                    p[c] += src[c]
                    y[c] += src[c]
                }
            }
        }
        return logits
    }

    func forwardLayer(_ l: Int, input: Scratch, gelu activation: Scratch, epsilon: Float, rng: inout TrainingRNG)
        -> (output: Scratch, saved: LayerActivations) {
        let w = model.layerSlots[l]
        let x = input.pointer
        let qkv = Scratch(T * 3 * H)
        let ld = 3 * H
        BLAS.sgemm(transB: true, m: T, n: ld, k: H, a: x, lda: H, b: P + w.qkvWeight, ldb: H, c: qkv.pointer, ldc: ld)
        EncoderKernels.addBias(qkv.pointer, rows: T, cols: ld, bias: P + w.qkvBias)
        let probabilities = Scratch(probabilityCount)
        let context = Scratch(T * H)
        let attentionMask = Scratch.mask(probabilityCount, probability: dropout.attention, rng: &rng)
        attentionForward(qkv: qkv.pointer, probabilities: probabilities.pointer, mask: attentionMask, context: context.pointer)
        let attentionOutputMask = Scratch.mask(T * H, probability: dropout.hidden, rng: &rng)
        let outputMask = Scratch.mask(T * H, probability: dropout.hidden, rng: &rng)
        // Output projection + bias + residual, LayerNorm.
        let sum = Scratch(T * H)
        BLAS.sgemm(transB: true, m: T, n: H, k: H, a: context.pointer, lda: H, b: P + w.attentionOutputWeight, ldb: H,
                   c: sum.pointer, ldc: H)
        addBiasResidual(sum.pointer, bias: P + w.attentionOutputBias, mask: attentionOutputMask, residual: x, cols: H)
        let normalized1 = Scratch(T * H), inverseStd1 = Scratch(T), hidden1 = Scratch(T * H)
        BackwardKernels.layerNormForward(sum.pointer, rows: T, cols: H, gamma: P + w.attentionNormWeight, beta: P + w.attentionNormBias,
                                         epsilon: epsilon, output: hidden1.pointer, normalized: normalized1.pointer,
                                         inverseStd: inverseStd1.pointer)
        // Feed-forward.
        let intermediate = Scratch(T * I)
        BLAS.sgemm(transB: true, m: T, n: I, k: H, a: hidden1.pointer, lda: H, b: P + w.intermediateWeight, ldb: H,
                   c: intermediate.pointer, ldc: I)
        EncoderKernels.addBias(intermediate.pointer, rows: T, cols: I, bias: P + w.intermediateBias)
        BackwardKernels.gelu(intermediate.pointer, into: activation.pointer, count: T * I)
        BLAS.sgemm(transB: true, m: T, n: H, k: I, a: activation.pointer, lda: I, b: P + w.outputWeight, ldb: I,
                   c: sum.pointer, ldc: H)
        addBiasResidual(sum.pointer, bias: P + w.outputBias, mask: outputMask, residual: hidden1.pointer, cols: H)
        let normalized2 = Scratch(T * H), inverseStd2 = Scratch(T), output = Scratch(T * H)
        BackwardKernels.layerNormForward(sum.pointer, rows: T, cols: H, gamma: P + w.outputNormWeight, beta: P + w.outputNormBias,
                                         epsilon: epsilon, output: output.pointer, normalized: normalized2.pointer,
                                         inverseStd: inverseStd2.pointer)
        return (output, LayerActivations(input: input, qkv: qkv, probabilities: probabilities, context: context,
                                         normalized1: normalized1, inverseStd1: inverseStd1, hidden1: hidden1,
                                         intermediate: intermediate, activation: activation,
                                         normalized2: normalized2, inverseStd2: inverseStd2,
                                         attentionMask: attentionMask, attentionOutputMask: attentionOutputMask, outputMask: outputMask))
    }

    /// x[t, c] = (x[t, c] + bias[c])·mask[t, c] + residual[t, c].
    func addBiasResidual(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, mask: Scratch?,
                         residual: UnsafePointer<Float>, cols: Int) {
        let m = mask?.pointer
        Parallel.forEach(0..<T, minimumChunk: 64) { range in
            for t in range {
                let row = x + t * cols, r = residual + t * cols
                if let m {
                    let mr = m + t * cols
                    for c in 0..<cols { row[c] = (row[c] + bias[c]) * mr[c] + r[c] }
                } else {
                    for c in 0..<cols { row[c] += bias[c] + r[c] }
                }
            }
        }
    }

    /// Per sequence and head: P = softmax(QKᵀ/√d), context = P·V.
    func attentionForward(qkv: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>, mask: Scratch?,
                          context: UnsafeMutablePointer<Float>) {
        let maskBase = mask?.pointer
        let ld = 3 * H, H = self.H, headDim = self.headDim, heads = self.heads
        let scale = 1 / Float(headDim).squareRoot()
        let sequences = batch.sequences, offsets = probabilityOffsets
        Parallel.forEach(0..<(sequences.count * heads)) { items in
            for item in items {
                let b = item / heads, h = item % heads
                let seq = sequences[b], n = seq.count
                let base = qkv + seq.lowerBound * ld
                let p = probabilities + offsets[b] + h * n * n
                BLAS.sgemm(transB: true, m: n, n: n, k: headDim, alpha: scale, a: base + h * headDim, lda: ld,
                           b: base + H + h * headDim, ldb: ld, c: p, ldc: n)
                for r in 0..<n { EncoderKernels.softmaxRow(p + r * n, count: n) }
                var weights = UnsafePointer(p)
                var dropped: UnsafeMutablePointer<Float>?
                if let maskBase {
                    let d = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
                    let m = maskBase + offsets[b] + h * n * n
                    for i in 0..<(n * n) { d[i] = p[i] * m[i] }
                    weights = UnsafePointer(d)
                    dropped = d
                }
                BLAS.sgemm(m: n, n: headDim, k: n, a: weights, lda: n, b: base + 2 * H + h * headDim, ldb: ld,
                           c: context + seq.lowerBound * H + h * headDim, ldc: H)
                dropped?.deallocate()
            }
        }
    }

    final class BackwardWork {
        let dA: Scratch, dContext: Scratch, dQKV: Scratch, dIntermediate: Scratch, dScores: Scratch
        let dDense: Scratch
        init(T: Int, H: Int, I: Int, probabilities: Int) {
            dA = Scratch(T * H)
            dDense = Scratch(T * H)
            dContext = Scratch(T * H)
            dQKV = Scratch(T * 3 * H)
            dIntermediate = Scratch(T * I)
            dScores = Scratch(probabilities)
        }
    }

    /// Turns dHidden (gradient of this layer's output) into the gradient of its input, in place.
    func backwardLayer(_ l: Int, _ a: LayerActivations, dHidden: Scratch, G: UnsafeMutablePointer<Float>, work: BackwardWork) {
        let w = model.layerSlots[l]
        let dOut = work.dA  // (T, H): gradient at the output sum (before LayerNorm 2)
        BackwardKernels.layerNormBackward(dHidden.pointer, normalized: a.normalized2.pointer, inverseStd: a.inverseStd2.pointer,
                                          gamma: P + w.outputNormWeight, rows: T, cols: H, dx: dOut.pointer,
                                          dGamma: G + w.outputNormWeight, dBeta: G + w.outputNormBias)
        // Output dense (through its dropout) over the saved GELU output.
        var dDense = dOut
        if a.outputMask != nil {
            dDense = work.dDense
            dDense.pointer.update(from: dOut.pointer, count: T * H)
            applyMask(dDense.pointer, a.outputMask, count: T * H)
        }
        BackwardKernels.linearBackward(dy: dDense.pointer, input: a.activation.pointer, weight: P + w.outputWeight, rows: T,
                                       inFeatures: I, outFeatures: H, dWeight: G + w.outputWeight, dBias: G + w.outputBias,
                                       dx: work.dIntermediate.pointer)
        BackwardKernels.geluBackward(work.dIntermediate.pointer, input: a.intermediate.pointer, output: a.activation.pointer,
                                     into: work.dIntermediate.pointer, count: T * I)
        // dHidden1 = dOut (residual) + dIntermediate · W_i.
        let dHidden1 = dHidden  // reuse: its old content is consumed
        dHidden1.pointer.update(from: dOut.pointer, count: T * H)
        BackwardKernels.linearBackward(dy: work.dIntermediate.pointer, input: a.hidden1.pointer, weight: P + w.intermediateWeight,
                                       rows: T, inFeatures: H, outFeatures: I, dWeight: G + w.intermediateWeight,
                                       dBias: G + w.intermediateBias, dx: dHidden1.pointer, accumulate: true)
        // Attention LayerNorm.
        let dSum = work.dA
        BackwardKernels.layerNormBackward(dHidden1.pointer, normalized: a.normalized1.pointer, inverseStd: a.inverseStd1.pointer,
                                          gamma: P + w.attentionNormWeight, rows: T, cols: H, dx: dSum.pointer,
                                          dGamma: G + w.attentionNormWeight, dBeta: G + w.attentionNormBias)
        var dAttentionDense = dSum
        if a.attentionOutputMask != nil {
            dAttentionDense = work.dDense
            dAttentionDense.pointer.update(from: dSum.pointer, count: T * H)
            applyMask(dAttentionDense.pointer, a.attentionOutputMask, count: T * H)
        }
        BackwardKernels.linearBackward(dy: dAttentionDense.pointer, input: a.context.pointer, weight: P + w.attentionOutputWeight, rows: T,
                                       inFeatures: H, outFeatures: H, dWeight: G + w.attentionOutputWeight,
                                       dBias: G + w.attentionOutputBias, dx: work.dContext.pointer)
        attentionBackward(a, dContext: work.dContext.pointer, dQKV: work.dQKV.pointer, dScores: work.dScores.pointer)
        // dInput = dSum (residual) + dQKV · W_qkv.
        dHidden.pointer.update(from: dSum.pointer, count: T * H)
        BackwardKernels.linearBackward(dy: work.dQKV.pointer, input: a.input.pointer, weight: P + w.qkvWeight, rows: T,
                                       inFeatures: H, outFeatures: 3 * H, dWeight: G + w.qkvWeight, dBias: G + w.qkvBias,
                                       dx: dHidden.pointer, accumulate: true)
    }

    /// dP = dC·Vᵀ, dV = Pᵀ·dC, dS = softmax′(dP)·scale, dQ = dS·K, dK = dSᵀ·Q.
    func attentionBackward(_ a: LayerActivations, dContext: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>,
                           dScores: UnsafeMutablePointer<Float>) {
        let ld = 3 * H, H = self.H, headDim = self.headDim, heads = self.heads
        let scale = 1 / Float(headDim).squareRoot()
        let sequences = batch.sequences, offsets = probabilityOffsets
        let qkv = a.qkv.pointer, probabilities = a.probabilities.pointer
        let maskBase = a.attentionMask?.pointer
        Parallel.forEach(0..<(sequences.count * heads)) { items in
            for item in items {
                let b = item / heads, h = item % heads
                let seq = sequences[b], n = seq.count
                let base = qkv + seq.lowerBound * ld, dBase = dQKV + seq.lowerBound * ld
                let p = probabilities + offsets[b] + h * n * n, ds = dScores + offsets[b] + h * n * n
                let dc = dContext + seq.lowerBound * H + h * headDim
                BLAS.sgemm(transB: true, m: n, n: n, k: headDim, a: dc, lda: H, b: base + 2 * H + h * headDim, ldb: ld, c: ds, ldc: n)
                if let maskBase {
                    // Through the dropout: dV = (P∘M)ᵀ·dC, dP = dP′∘M.
                    let m = maskBase + offsets[b] + h * n * n
                    let d = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
                    for i in 0..<(n * n) { d[i] = p[i] * m[i] }
                    BLAS.sgemm(transA: true, m: n, n: headDim, k: n, a: d, lda: n, b: dc, ldb: H, c: dBase + 2 * H + h * headDim, ldc: ld)
                    d.deallocate()
                    for i in 0..<(n * n) { ds[i] *= m[i] }
                } else {
                    BLAS.sgemm(transA: true, m: n, n: headDim, k: n, a: p, lda: n, b: dc, ldb: H, c: dBase + 2 * H + h * headDim, ldc: ld)
                }
                BackwardKernels.softmaxBackwardRows(ds, probabilities: p, rows: n, cols: n)
                BLAS.sgemm(m: n, n: headDim, k: n, alpha: scale, a: ds, lda: n, b: base + H + h * headDim, ldb: ld,
                           c: dBase + h * headDim, ldc: ld)
                BLAS.sgemm(transA: true, m: n, n: headDim, k: n, alpha: scale, a: ds, lda: n, b: base + h * headDim, ldb: ld,
                           c: dBase + H + h * headDim, ldc: ld)
            }
        }
    }
}
