import Foundation
import Models
import Tensor

// BERT sequence classification (transformers' BertForSequenceClassification,
// num_labels = 1) trained as sentence-transformers' CrossEncoder trains a
// reranker: binary cross-entropy on logits, or distilled from a teacher's
// scores (MSE, MarginMSE; `CrossEncoderLoss`). The forward pass is
// Models' BERTModel.forward run with an activation record (and the dropout
// masks drawn here); this file holds its hand-written backward pass, which
// reads what the record kept (llm.c's split of *_forward and *_backward).

/// One (query, passage) pair encoded for training, or for margin-mse a
/// (query, positive, negative) triple: this pair is the positive one.
public struct BERTTrainingExample: Sendable, Equatable {
    public var inputIDs: [Int32]
    public var tokenTypeIDs: [Int32]
    /// The target of the loss (`CrossEncoderLoss`): 1 for relevant and 0 for
    /// not (bce), the teacher's score (mse), the teacher's margin
    /// s(q, p) − s(q, n) (margin-mse).
    public var label: Float
    /// margin-mse: the (query, negative) pair.
    public var negative: Negative?

    /// The second pair of a triple.
    public struct Negative: Sendable, Equatable {
        public var inputIDs: [Int32]
        public var tokenTypeIDs: [Int32]

        public init(inputIDs: [Int32], tokenTypeIDs: [Int32]) {
            self.inputIDs = inputIDs
            self.tokenTypeIDs = tokenTypeIDs
        }
    }

    public init(inputIDs: [Int32], tokenTypeIDs: [Int32], label: Float, negative: Negative? = nil) {
        self.inputIDs = inputIDs
        self.tokenTypeIDs = tokenTypeIDs
        self.label = label
        self.negative = negative
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
/// out flat by `BERTLayout` (transformers' key names).
public struct BERTTraining: Sendable {
    public let configuration: BERTConfiguration
    public var parameters: FlatParameters
    /// Applied in `lossAndGradients` when a mask seed is given; never in `logits`.
    public var dropout: BERTDropout = .none
    /// What `lossAndGradients` and `meanLoss(logits:batch:)` compute; margin-mse
    /// takes triples (`batch` refuses examples of the other shape).
    public var loss: CrossEncoderLoss = .bce
    /// Where each weight sits in `parameters` (the model's weight table, with pooler and a one-logit classifier).
    public let layout: BERTLayout

    /// Starts from a BERT checkpoint. A missing pooler or classifier (a plain
    /// BertModel such as all-MiniLM-L6-v2, which ships a pooler but no
    /// classifier) is initialised as transformers' `_init_weights` does:
    /// weights ~ N(0, 0.02²), biases 0, drawn from `rng`.
    public init(model: BERTModel, rng: inout TrainingRNG) throws {
        let c = model.configuration
        if let labels = model.classifier?.outFeatures ?? c.numLabels, labels != 1 {
            throw TrainingError.unsupportedModel("cross-encoder training needs num_labels = 1 (a relevance logit), the checkpoint has \(labels)")
        }
        let layout = BERTLayout(configuration: c, pooler: true, labels: 1)
        var p = FlatParameters()
        for entry in layout.entries {
            if let values = model.weight(entry.name) {
                p.append(entry.name, shape: entry.shape, values: Array(values))
            } else if entry.name.hasSuffix(".bias") {
                p.append(entry.name, shape: entry.shape, values: [Float](repeating: 0, count: entry.count))
            } else {
                p.append(entry.name, shape: entry.shape, values: (0..<entry.count).map { _ in Float(0.02 * rng.nextNormal()) })
            }
        }
        try self.init(configuration: c, parameters: p)
    }

    /// Wraps parameters laid out by `init(model:rng:)` (e.g. restored from a
    /// checkpoint), checking that every weight sits where `BERTLayout` puts it.
    public init(configuration: BERTConfiguration, parameters: FlatParameters) throws {
        let layout = BERTLayout(configuration: configuration, pooler: true, labels: 1)
        for entry in layout.entries {
            guard let s = parameters.slot(entry.name) else { throw TrainingError.unsupportedModel("parameter \(entry.name) is missing") }
            guard s.shape == entry.shape, s.offset == entry.offset else {
                throw TrainingError.unsupportedModel(
                    "parameter \(entry.name) has shape \(s.shape) at offset \(s.offset), BERT's layout puts \(entry.shape) at \(entry.offset) "
                        + "(query, key and value must be adjacent: the forward pass multiplies them as one block)")
            }
        }
        guard parameters.count == layout.count else {
            throw TrainingError.unsupportedModel("\(parameters.count) parameters, BERT's layout has \(layout.count)")
        }
        self.configuration = configuration
        self.parameters = parameters
        self.layout = layout
    }

    /// A packed batch with its targets: one sequence per example, or for
    /// triples the n positive pairs then the n negative ones (the order
    /// sentence-transformers' MarginMSELoss scores them in).
    public struct Batch: Sendable {
        public var packed: BERTPackedBatch
        /// One per example (`BERTTrainingExample.label`).
        public var labels: [Float]
        public var sequences: [Range<Int>] { packed.sequences }
        public var tokenCount: Int { packed.tokenCount }
    }

    /// Packs examples, checking ids against the configuration and their
    /// shape against `loss` (triples for margin-mse, pairs otherwise).
    public func batch(_ examples: [BERTTrainingExample]) throws -> Batch {
        var sequences = examples.map(\.inputIDs), types = examples.map(\.tokenTypeIDs)
        if loss.usesTriples {
            let negatives = examples.compactMap(\.negative)
            guard negatives.count == examples.count else {
                throw TrainingError.invalidParameter(name: "examples", reason: "\(examples.count - negatives.count) of \(examples.count) examples have no negative pair; --loss margin-mse trains on (query, positive, negative) triples")
            }
            sequences += negatives.map(\.inputIDs)
            types += negatives.map(\.tokenTypeIDs)
        } else if examples.contains(where: { $0.negative != nil }) {
            throw TrainingError.invalidParameter(name: "examples", reason: "triples (examples with a negative pair) are for --loss margin-mse, this run's loss is \(loss.rawValue)")
        }
        do {
            let packed = try BERTPackedBatch(sequences: sequences, tokenTypes: types, configuration: configuration)
            return Batch(packed: packed, labels: examples.map(\.label))
        } catch {
            throw TrainingError.invalidParameter(name: "examples", reason: "\(error)")
        }
    }

    /// Mean binary cross-entropy over the batch's logits (numerically stable form).
    public static func binaryCrossEntropy(logits: [Float], labels: [Float]) -> Float {
        CrossEncoderLoss.bce.lossAndLogitGradients(logits: logits, targets: labels).loss
    }

    /// The mean `loss` of a batch's logits (forward-only validation).
    public func meanLoss(logits: [Float], batch: Batch) -> Float {
        loss.lossAndLogitGradients(logits: logits, targets: batch.labels).loss
    }

    /// Logits of a batch (forward only: the inference pass, no record, no dropout).
    public func logits(_ batch: Batch) -> [Float] {
        parameters.values.withUnsafeBufferPointer { p in
            BERTModel.forward(batch.packed, configuration: configuration, layout: layout, parameters: p.baseAddress!, head: true).logits
        }
    }

    /// Forward and backward over one (micro-)batch: returns the mean `loss`
    /// and the logits (for triples, the positives' then the negatives'), and
    /// ADDS the gradient of `lossScale · loss` into `gradients` (same layout as `parameters.values`), so micro-batches
    /// accumulate. Use lossScale = 1/micro-batches for an averaged step.
    ///
    /// `dropoutSeed` draws this call's dropout masks (`dropout`; none when nil):
    /// derive it from (run seed, step, micro-batch) so a resumed run draws the same.
    public func lossAndGradients(_ batch: Batch, lossScale: Float = 1, dropoutSeed: UInt64? = nil,
                                 gradients: inout [Float]) -> (loss: Float, logits: [Float]) {
        precondition(gradients.count == parameters.count, "gradient buffer does not match the parameters")
        guard batch.tokenCount > 0 else { return (0, []) }
        let record = BERTActivations(batch: batch.packed, configuration: configuration)
        if dropout.isActive, let dropoutSeed {
            Self.drawMasks(into: record, tokens: batch.tokenCount, seed: dropoutSeed, configuration: configuration, dropout: dropout)
        }
        var value: Float = 0
        let logits = parameters.values.withUnsafeBufferPointer { pv in
            let P = pv.baseAddress!
            let forward = BERTModel.forward(batch.packed, configuration: configuration, layout: layout, parameters: P,
                                            head: true, record: record)
            let (objective, dLogits) = loss.lossAndLogitGradients(logits: forward.logits, targets: batch.labels)
            value = objective
            gradients.withUnsafeMutableBufferPointer { gv in
                BERTBackward(configuration: configuration, layout: layout, batch: batch.packed, record: record, P: P, G: gv.baseAddress!)
                    .run(dLogits: dLogits.map { $0 * lossScale })
            }
            return forward.logits
        }
        return (value, logits)
    }

    /// Draws the record's inverted-dropout masks (0 with probability p, else
    /// 1/(1−p)) in the order the forward pass applies them.
    static func drawMasks(into record: BERTActivations, tokens T: Int, seed: UInt64, configuration: BERTConfiguration,
                          dropout: BERTDropout) {
        var rng = TrainingRNG(seed: seed, stream: 0x4452_4F50)  // "DROP"
        func mask(_ count: Int, _ p: Float) -> FloatBuffer? {
            guard p > 0 else { return nil }
            let m = FloatBuffer(uninitialized: count)
            let keep = 1 / (1 - p), threshold = Double(p)
            for i in 0..<count { m.p[i] = rng.nextUnit() < threshold ? 0 : keep }
            return m
        }
        let H = configuration.hiddenSize
        record.embeddingMask = mask(T * H, dropout.hidden)
        for layer in record.layers {
            layer.attentionMask = mask(record.probabilityCount, dropout.attention)
            layer.attentionOutputMask = mask(T * H, dropout.hidden)
            layer.outputMask = mask(T * H, dropout.hidden)
        }
        record.classifierMask = mask(record.first.count, dropout.classifier)
    }
}

/// x[i] *= mask[i] when there is a mask.
private func applyMask(_ x: UnsafeMutablePointer<Float>, _ mask: FloatBuffer?, count: Int) {
    guard let mask else { return }
    let m = mask.p
    for i in 0..<count { x[i] *= m[i] }
}

/// The backward pass over what a recording forward pass kept: `run` from
/// the classification head's BCE (the cross-encoder), `encoder` from a
/// gradient at the last hidden states (the bi-encoder's pooled embeddings).
struct BERTBackward {
    let batch: BERTPackedBatch
    let record: BERTActivations
    let layout: BERTLayout
    let P: UnsafePointer<Float>
    let G: UnsafeMutablePointer<Float>
    let T: Int, H: Int, I: Int, heads: Int, headDim: Int, B: Int

    init(configuration c: BERTConfiguration, layout: BERTLayout, batch: BERTPackedBatch, record: BERTActivations,
         P: UnsafePointer<Float>, G: UnsafeMutablePointer<Float>) {
        self.batch = batch
        self.record = record
        self.layout = layout
        self.P = P
        self.G = G
        T = batch.tokenCount
        H = c.hiddenSize
        I = c.intermediateSize
        heads = c.numAttentionHeads
        headDim = c.headDimension
        B = batch.sequences.count
    }

    /// `dLogits`: the gradient of the (scaled) loss with respect to each sequence's logit.
    func run(dLogits: [Float]) {
        guard let pooler = layout.pooler, let classifier = layout.classifier else { return }
        let H = self.H
        let pooled = record.pooled.p, dropped = record.classifierInput.p
        let dPooled = FloatBuffer(uninitialized: B * H)
        for b in 0..<B {
            let dz = dLogits[b]
            G[classifier.bias] += dz
            for c in 0..<H {
                let p = pooled[b * H + c]
                G[classifier.weight + c] += dz * dropped[b * H + c]
                let m = record.classifierMask.map { $0.p[b * H + c] } ?? 1
                // tanh′ = 1 − tanh².
                dPooled.p[b * H + c] = dz * P[classifier.weight + c] * m * (1 - p * p)
            }
        }
        let dFirst = FloatBuffer(uninitialized: B * H)
        BackwardKernels.linearBackward(dy: dPooled.p, input: record.first.p, weight: P + pooler.weight, rows: B,
                                       inFeatures: H, outFeatures: H, dWeight: G + pooler.weight, dBias: G + pooler.bias,
                                       dx: dFirst.p)
        let dHidden = FloatBuffer(count: T * H)
        for (b, seq) in batch.sequences.enumerated() {
            (dHidden.p + seq.lowerBound * H).update(from: dFirst.p + b * H, count: H)
        }
        withExtendedLifetime((dPooled, dFirst)) { encoder(dHidden: dHidden) }
    }

    /// From the gradient at the last hidden states (T, H), consumed, through
    /// every layer and the embeddings, into G.
    func encoder(dHidden: FloatBuffer) {
        let H = self.H
        let work = Work(T: T, H: H, I: I, probabilities: record.probabilityCount)
        // Kernels get raw pointers: keep the buffers alive to the end of the pass.
        defer { withExtendedLifetime((dHidden, work)) {} }
        for l in stride(from: layout.layers.count - 1, through: 0, by: -1) {
            layer(l, dHidden: dHidden, work: work)
        }
        // Embedding dropout and LayerNorm, then scatter into the three tables.
        applyMask(dHidden.p, record.embeddingMask, count: T * H)
        let dEmbedded = work.dA
        BackwardKernels.layerNormBackward(dHidden.p, normalized: record.embeddingNormalized.p,
                                          inverseStd: record.embeddingInverseStd.p,
                                          gamma: P + layout.embeddingNormWeight, rows: T, cols: H, dx: dEmbedded.p,
                                          dGamma: G + layout.embeddingNormWeight, dBeta: G + layout.embeddingNormBias)
        let gWord = G + layout.word, gPosition = G + layout.position, gType = G + layout.tokenType
        let d = dEmbedded.p, tokens = T
        let ids = batch.ids, types = batch.types, positions = batch.positions
        // Split over columns: a token id may repeat, so rows would race.
        Parallel.forEach(0..<H, minimumChunk: 32) { cols in
            for t in 0..<tokens {
                let src = d + t * H
                let w = gWord + Int(ids[t]) * H, p = gPosition + Int(positions[t]) * H, y = gType + Int(types[t]) * H
                for c in cols {
                    w[c] += src[c]
                    p[c] += src[c]
                    y[c] += src[c]
                }
            }
        }
    }

    final class Work {
        let dA: FloatBuffer, dContext: FloatBuffer, dQKV: FloatBuffer, dIntermediate: FloatBuffer, dScores: FloatBuffer
        let dDense: FloatBuffer
        init(T: Int, H: Int, I: Int, probabilities: Int) {
            dA = FloatBuffer(uninitialized: T * H)
            dDense = FloatBuffer(uninitialized: T * H)
            dContext = FloatBuffer(uninitialized: T * H)
            dQKV = FloatBuffer(uninitialized: T * 3 * H)
            dIntermediate = FloatBuffer(uninitialized: T * I)
            dScores = FloatBuffer(uninitialized: probabilities)
        }
    }

    /// Turns dHidden (gradient of layer l's output) into the gradient of its input, in place.
    func layer(_ l: Int, dHidden: FloatBuffer, work: Work) {
        let w = layout.layers[l], a = record.layers[l]
        let dOut = work.dA  // (T, H): gradient at the output sum (before LayerNorm 2)
        BackwardKernels.layerNormBackward(dHidden.p, normalized: a.normalized2.p, inverseStd: a.inverseStd2.p,
                                          gamma: P + w.outputNormWeight, rows: T, cols: H, dx: dOut.p,
                                          dGamma: G + w.outputNormWeight, dBeta: G + w.outputNormBias)
        // Output dense (through its dropout) over the saved GELU output.
        var dDense = dOut
        if a.outputMask != nil {
            dDense = work.dDense
            dDense.p.update(from: dOut.p, count: T * H)
            applyMask(dDense.p, a.outputMask, count: T * H)
        }
        BackwardKernels.linearBackward(dy: dDense.p, input: a.activation.p, weight: P + w.outputWeight, rows: T,
                                       inFeatures: I, outFeatures: H, dWeight: G + w.outputWeight, dBias: G + w.outputBias,
                                       dx: work.dIntermediate.p)
        BackwardKernels.geluBackward(work.dIntermediate.p, input: a.intermediate.p, output: a.activation.p,
                                     into: work.dIntermediate.p, count: T * I)
        // dHidden1 = dOut (residual) + dIntermediate · W_i.
        let dHidden1 = dHidden  // reuse: its old content is consumed
        dHidden1.p.update(from: dOut.p, count: T * H)
        BackwardKernels.linearBackward(dy: work.dIntermediate.p, input: a.hidden1.p, weight: P + w.intermediateWeight,
                                       rows: T, inFeatures: H, outFeatures: I, dWeight: G + w.intermediateWeight,
                                       dBias: G + w.intermediateBias, dx: dHidden1.p, accumulate: true)
        // Attention LayerNorm.
        let dSum = work.dA
        BackwardKernels.layerNormBackward(dHidden1.p, normalized: a.normalized1.p, inverseStd: a.inverseStd1.p,
                                          gamma: P + w.attentionNormWeight, rows: T, cols: H, dx: dSum.p,
                                          dGamma: G + w.attentionNormWeight, dBeta: G + w.attentionNormBias)
        var dAttentionDense = dSum
        if a.attentionOutputMask != nil {
            dAttentionDense = work.dDense
            dAttentionDense.p.update(from: dSum.p, count: T * H)
            applyMask(dAttentionDense.p, a.attentionOutputMask, count: T * H)
        }
        BackwardKernels.linearBackward(dy: dAttentionDense.p, input: a.context.p, weight: P + w.attentionOutputWeight, rows: T,
                                       inFeatures: H, outFeatures: H, dWeight: G + w.attentionOutputWeight,
                                       dBias: G + w.attentionOutputBias, dx: work.dContext.p)
        attention(a, dContext: work.dContext.p, dQKV: work.dQKV.p, dScores: work.dScores.p)
        // dInput = dSum (residual) + dQKV · W_qkv.
        dHidden.p.update(from: dSum.p, count: T * H)
        BackwardKernels.linearBackward(dy: work.dQKV.p, input: a.input.p, weight: P + w.qkvWeight, rows: T,
                                       inFeatures: H, outFeatures: 3 * H, dWeight: G + w.qkvWeight, dBias: G + w.qkvBias,
                                       dx: dHidden.p, accumulate: true)
    }

    /// dP = dC·Vᵀ, dV = Pᵀ·dC, dS = softmax′(dP)·scale, dQ = dS·K, dK = dSᵀ·Q.
    func attention(_ a: BERTActivations.Layer, dContext: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>,
                   dScores: UnsafeMutablePointer<Float>) {
        let ld = 3 * H, H = self.H, headDim = self.headDim, heads = self.heads
        let scale = 1 / Float(headDim).squareRoot()
        let sequences = batch.sequences, offsets = record.probabilityOffsets
        let qkv = a.qkv.p, probabilities = a.probabilities.p
        let maskBase = a.attentionMask?.p
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
