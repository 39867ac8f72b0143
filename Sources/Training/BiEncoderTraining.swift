import Foundation
import Models
import Tensor

// A sentence-transformers bi-encoder (Transformer → Pooling → Normalize?)
// trained as sentence-transformers trains one. The forward pass is Models'
// BERTModel.forward with an activation record, the pooling is the loader's
// `SentenceTransformerPoolingConfig.pool`; this file holds the losses over
// the embeddings and their backward down to the last hidden states, from
// where BERTTraining's encoder backward (`BERTBackward.encoder`) takes over.

/// One training row: a query, its positive, optionally a negative, token ids
/// as the sentence encoder tokenizes single texts.
public struct BiEncoderExample: Sendable, Equatable {
    public var query: [Int32]
    public var positive: [Int32]
    /// MultipleNegativesRankingLoss: a mined hard negative, an extra column; MarginMSE: required.
    public var negative: [Int32]?
    /// MarginMSE's label: teacher score(query, positive) − score(query, negative).
    public var margin: Float?
    /// What the batch sampler keeps unique within a batch: the query text and
    /// the documents of the passages (documentID, else the text), interned.
    public var keys: [Int]

    public init(query: [Int32], positive: [Int32], negative: [Int32]? = nil, margin: Float? = nil, keys: [Int] = []) {
        self.query = query
        self.positive = positive
        self.negative = negative
        self.margin = margin
        self.keys = keys
    }

    public var tokenCount: Int { query.count + positive.count + (negative?.count ?? 0) }
}

/// The sentence-transformers losses the bi-encoder trains with.
public enum BiEncoderLoss: String, Sendable, Codable, CaseIterable {
    /// `MultipleNegativesRankingLoss(model, scale=20, similarity_fct=cos_sim)`:
    /// cross-entropy of each query's row of scale·cos(query, candidates),
    /// the candidates being every positive of the batch then every hard
    /// negative, the target its own positive's column.
    case mnrl
    /// `MarginMSELoss(model)` (GPL) with its default similarity,
    /// `pairwise_dot_score`: MSE between dot(q, p) − dot(q, n) and the
    /// teacher's margin. Over normalised embeddings (MiniLM has a Normalize
    /// module) the dot product is the cosine.
    case marginMSE = "margin-mse"
}

/// The trainable bi-encoder: the BERT encoder's parameters (BERTLayout
/// without pooler or classifier), the sentence pipeline it embeds with, and
/// the loss.
public struct BiEncoderTraining: Sendable {
    public let configuration: BERTConfiguration
    public var parameters: FlatParameters
    public let layout: BERTLayout
    /// Pooling and Normalize of the base directory.
    public let sentence: SentenceTransformerDirectory
    public var loss: BiEncoderLoss
    /// MultipleNegativesRankingLoss's scale (1 / temperature).
    public var scale: Float
    /// Applied in `lossAndGradients` when a mask seed is given (BERT's
    /// hidden and attention dropout; a bi-encoder has no classifier).
    public var dropout: BERTDropout = .none
    /// Weights the pipeline never reads (the BertModel pooler), written back unchanged.
    public let untrained: [(name: String, tensor: Tensor)]

    public init(model: BERTModel, sentence: SentenceTransformerDirectory, loss: BiEncoderLoss, scale: Float = 20) throws {
        let c = model.configuration
        let layout = BERTLayout(configuration: c, pooler: false, labels: nil)
        var p = FlatParameters()
        for entry in layout.entries {
            guard let values = model.weight(entry.name) else { throw TrainingError.unsupportedModel("parameter \(entry.name) is missing") }
            p.append(entry.name, shape: entry.shape, values: Array(values))
        }
        var untrained: [(name: String, tensor: Tensor)] = []
        if let pooler = model.pooler {
            let H = c.hiddenSize
            untrained.append((BERTLayout.encoderPrefix + "pooler.dense.weight",
                              Tensor(shape: [H, H], data: Array(model.values[pooler.weight..<(pooler.weight + H * H)]))))
            untrained.append((BERTLayout.encoderPrefix + "pooler.dense.bias",
                              Tensor(shape: [H], data: Array(model.values[pooler.bias..<(pooler.bias + H)]))))
        }
        guard scale > 0, scale.isFinite else { throw TrainingError.invalidParameter(name: "scale", reason: "must be positive, got \(scale)") }
        self.configuration = c
        self.layout = layout
        self.parameters = p
        self.sentence = sentence
        self.loss = loss
        self.scale = scale
        self.untrained = untrained
    }

    /// The packed texts of a batch: every query, every positive, then the
    /// negatives of the rows that have one (`negativeRow[k]` is the row of
    /// negative k).
    struct Packed {
        var batch: BERTPackedBatch
        var rows: Int
        var negativeRow: [Int]
        var margins: [Float]
    }

    func pack(_ examples: [BiEncoderExample]) throws -> Packed {
        var sequences = examples.map(\.query) + examples.map(\.positive), negativeRow: [Int] = []
        for (i, e) in examples.enumerated() {
            if let n = e.negative {
                sequences.append(n)
                negativeRow.append(i)
            }
        }
        if loss == .marginMSE {
            guard negativeRow.count == examples.count, examples.allSatisfy({ $0.margin != nil }) else {
                throw TrainingError.invalidParameter(name: "examples", reason: "margin-mse needs a negative and a teacher margin in every row")
            }
        }
        do {
            let packed = try BERTPackedBatch(sequences: sequences, tokenTypes: sequences.map { [Int32](repeating: 0, count: $0.count) },
                                             configuration: configuration)
            return Packed(batch: packed, rows: examples.count, negativeRow: negativeRow, margins: examples.map { $0.margin ?? 0 })
        } catch {
            throw TrainingError.invalidParameter(name: "examples", reason: "\(error)")
        }
    }

    /// The sentence embeddings of packed texts (pooled, normalised when the
    /// pipeline has Normalize), with the pooled vectors before normalising.
    func embed(_ hidden: FloatBuffer, _ packed: BERTPackedBatch) -> (pooled: [[Float]], embeddings: [[Float]]) {
        let states = BERTHiddenStates(hidden: withExtendedLifetime(hidden) { hidden.array }, sequences: packed.sequences,
                                      hiddenSize: configuration.hiddenSize)
        let pooled = sentence.pooling.pool(states)
        return (pooled, sentence.normalize ? pooled.map { Self.normalized($0) } : pooled)
    }

    /// x / max(‖x‖, 1e-12), F.normalize's.
    static func normalized(_ x: [Float]) -> [Float] {
        let norm = x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let inv = 1 / Swift.max(norm, 1e-12)
        return x.map { Float(Double($0) * inv) }
    }

    /// The gradient at x of a loss whose gradient at x / max(‖x‖, ε) is `dy`.
    static func normalizeBackward(_ x: [Float], _ dy: [Double]) -> [Double] {
        let norm = x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        guard norm > 1e-12 else { return dy.map { $0 / 1e-12 } }
        var dot = 0.0
        for (a, g) in zip(x, dy) { dot += Double(a) / norm * g }
        return zip(x, dy).map { a, g in (g - Double(a) / norm * dot) / norm }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for (x, y) in zip(a, b) { s += Double(x) * Double(y) }
        return s
    }

    /// MarginMSE's student margin dot(q, p) − dot(q, n) for each row of a
    /// batch's embeddings (laid out as `embeddingLoss` takes them).
    static func studentMargins(_ e: [[Float]], rows n: Int, negativeRow: [Int]) -> [Double] {
        negativeRow.enumerated().map { k, i in dot(e[i], e[n + i]) - dot(e[i], e[2 * n + k]) }
    }

    /// The loss over a batch's embeddings (queries rows 0..<n, positives
    /// n..<2n, negatives after them) and its gradient at each embedding.
    static func embeddingLoss(_ loss: BiEncoderLoss, scale: Float, embeddings e: [[Float]], rows n: Int, negativeRow: [Int],
                     margins: [Float]) -> (loss: Double, gradients: [[Double]]) {
        let D = e.first?.count ?? 0
        var grad = [[Double]](repeating: [Double](repeating: 0, count: D), count: e.count)
        switch loss {
        case .mnrl:
            // cos_sim normalises again (a no-op after a Normalize module, not without one).
            let unit = e.map { normalized($0) }
            let candidates = Array(n..<e.count), s = Double(scale)
            var total = 0.0
            var dUnit = [[Double]](repeating: [Double](repeating: 0, count: D), count: e.count)
            for i in 0..<n {
                let logits = candidates.map { s * dot(unit[i], unit[$0]) }
                let top = logits.max()!
                let sum = logits.reduce(0.0) { $0 + Foundation.exp($1 - top) }
                total += top + Foundation.log(sum) - logits[i]
                for (j, c) in candidates.enumerated() {
                    // d(mean CE)/d logit = (softmax − onehot) / n; logit = s·uᵢ·u_c.
                    let d = (Foundation.exp(logits[j] - top) / sum - (j == i ? 1 : 0)) / Double(n) * s
                    for k in 0..<D {
                        dUnit[i][k] += d * Double(unit[c][k])
                        dUnit[c][k] += d * Double(unit[i][k])
                    }
                }
            }
            for r in e.indices { grad[r] = normalizeBackward(e[r], dUnit[r]) }
            return (total / Double(n), grad)
        case .marginMSE:
            var total = 0.0
            let student = studentMargins(e, rows: n, negativeRow: negativeRow)
            for (k, i) in negativeRow.enumerated() {
                let q = e[i], p = e[n + i], neg = e[2 * n + k]
                let diff = student[k] - Double(margins[i])
                total += diff * diff
                let d = 2 * diff / Double(negativeRow.count)
                for c in 0..<D {
                    grad[i][c] += d * (Double(p[c]) - Double(neg[c]))
                    grad[n + i][c] += d * Double(q[c])
                    grad[2 * n + k][c] -= d * Double(q[c])
                }
            }
            return (total / Double(Swift.max(negativeRow.count, 1)), grad)
        }
    }

    /// Spreads the gradient at each pooled vector over its sequence's token
    /// rows of `dHidden` (T, H), mode by mode, as `pool` gathered them.
    func poolingBackward(_ dPooled: [[Double]], hidden: FloatBuffer, packed: BERTPackedBatch, into dHidden: FloatBuffer) {
        let H = configuration.hiddenSize, h = hidden.p, d = dHidden.p
        for (b, seq) in packed.sequences.enumerated() {
            for (m, mode) in sentence.pooling.modes.enumerated() {
                let g = dPooled[b][(m * H)..<((m + 1) * H)].map { Float($0) }
                switch mode {
                case .cls:
                    for c in 0..<H { d[seq.lowerBound * H + c] += g[c] }
                case .lastToken:
                    for c in 0..<H { d[(seq.upperBound - 1) * H + c] += g[c] }
                case .mean, .meanSqrtLenTokens:
                    let divisor = mode == .mean ? Float(seq.count) : Float(seq.count).squareRoot()
                    for t in seq { for c in 0..<H { d[t * H + c] += g[c] / divisor } }
                case .weightedMean:
                    let total = Float(seq.count * (seq.count + 1) / 2)
                    for (position, t) in seq.enumerated() {
                        let w = Float(position + 1) / total
                        for c in 0..<H { d[t * H + c] += w * g[c] }
                    }
                case .max:
                    // torch.max's gradient goes to the first maximal token.
                    for c in 0..<H {
                        var best = seq.lowerBound
                        for t in seq where h[t * H + c] > h[best * H + c] { best = t }
                        d[best * H + c] += g[c]
                    }
                }
            }
        }
    }

    /// Forward and backward over one (micro-)batch: returns the loss, and
    /// ADDS the gradient of `lossScale · loss` into `gradients` (laid out as
    /// `parameters.values`). `dropoutSeed` draws the dropout masks.
    public func lossAndGradients(_ examples: [BiEncoderExample], lossScale: Float = 1, dropoutSeed: UInt64? = nil,
                                 gradients: inout [Float]) throws -> (loss: Float, tokens: Int) {
        precondition(gradients.count == parameters.count, "gradient buffer does not match the parameters")
        guard !examples.isEmpty else { return (0, 0) }
        let packed = try pack(examples)
        let record = BERTActivations(batch: packed.batch, configuration: configuration)
        if dropout.isActive, let dropoutSeed {
            BERTTraining.drawMasks(into: record, tokens: packed.batch.tokenCount, seed: dropoutSeed, configuration: configuration,
                                   dropout: BERTDropout(hidden: dropout.hidden, attention: dropout.attention, classifier: 0))
        }
        let T = packed.batch.tokenCount, H = configuration.hiddenSize
        var value = 0.0
        parameters.values.withUnsafeBufferPointer { pv in
            let P = pv.baseAddress!
            let hidden = BERTModel.forward(packed.batch, configuration: configuration, layout: layout, parameters: P,
                                           head: false, record: record).hidden
            let (pooled, embeddings) = embed(hidden, packed.batch)
            let (l, dEmbeddings) = Self.embeddingLoss(loss, scale: scale, embeddings: embeddings, rows: packed.rows,
                                             negativeRow: packed.negativeRow, margins: packed.margins)
            value = l
            let ls = Double(lossScale)
            let dPooled = zip(pooled, dEmbeddings).map { x, g in
                (sentence.normalize ? Self.normalizeBackward(x, g) : g).map { $0 * ls }
            }
            let dHidden = FloatBuffer(count: T * H)
            poolingBackward(dPooled, hidden: hidden, packed: packed.batch, into: dHidden)
            gradients.withUnsafeMutableBufferPointer { gv in
                BERTBackward(configuration: configuration, layout: layout, batch: packed.batch, record: record, P: P, G: gv.baseAddress!)
                    .encoder(dHidden: dHidden)
            }
            withExtendedLifetime(hidden) {}
        }
        return (Float(value), T)
    }

    /// A packed batch's embeddings, forward only (no record, no dropout).
    func forwardEmbeddings(_ packed: Packed) -> [[Float]] {
        let hidden = parameters.values.withUnsafeBufferPointer { p in
            BERTModel.forward(packed.batch, configuration: configuration, layout: layout, parameters: p.baseAddress!, head: false).hidden
        }
        return embed(hidden, packed.batch).embeddings
    }

    /// The loss of a batch, forward only (no record, no dropout).
    public func batchLoss(_ examples: [BiEncoderExample]) throws -> Float {
        guard !examples.isEmpty else { return 0 }
        let packed = try pack(examples)
        return Float(Self.embeddingLoss(loss, scale: scale, embeddings: forwardEmbeddings(packed), rows: packed.rows,
                                        negativeRow: packed.negativeRow, margins: packed.margins).loss)
    }

    /// The model's own margin dot(q, p) − dot(q, n) on every row that has a
    /// negative (under margin-mse every row must: `pack` refuses one without),
    /// exactly as MarginMSE computes it, forward only, `batchSize` rows at a
    /// time; `progress` gets the rows done.
    public func margins(_ examples: [BiEncoderExample], batchSize: Int = 32,
                        progress: ((Int) -> Void)? = nil) throws -> [Double] {
        var out: [Double] = []
        for range in CrossEncoderRecipe.Model.microBatchRanges(count: examples.count, size: max(1, batchSize)) {
            let packed = try pack(Array(examples[range]))
            out += Self.studentMargins(forwardEmbeddings(packed), rows: packed.rows, negativeRow: packed.negativeRow)
            progress?(range.upperBound)
        }
        return out
    }

    /// Sentence embeddings of tokenized texts under the current parameters
    /// (what the written directory will give).
    public func embeddings(_ texts: [[Int32]]) throws -> [[Float]] {
        let packed: BERTPackedBatch
        do {
            packed = try BERTPackedBatch(sequences: texts, tokenTypes: texts.map { [Int32](repeating: 0, count: $0.count) },
                                         configuration: configuration)
        } catch {
            throw TrainingError.invalidParameter(name: "texts", reason: "\(error)")
        }
        let hidden = parameters.values.withUnsafeBufferPointer { p in
            BERTModel.forward(packed, configuration: configuration, layout: layout, parameters: p.baseAddress!, head: false).hidden
        }
        return embed(hidden, packed).embeddings
    }
}
