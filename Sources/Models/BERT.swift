import Foundation
import Tensor
import ModelFormats

// BERT encoder (transformers' BertModel / BertForSequenceClassification),
// ordered config -> blocks -> model -> weight-key mapping.
//
// Activations are packed: the valid tokens of every sequence in a batch sit
// back to back in one [tokens, hidden] buffer, so padding costs nothing in the
// linear layers, and attention runs per sequence over its own tokens only.
// That is exactly what an attention mask does in the padded reference (masked
// keys get zero weight; masked query rows are never read by pooling).

// MARK: - Configuration

/// Mirrors a BERT `config.json`; absent keys take transformers' `BertConfig` defaults.
public struct BERTConfiguration: Decodable, Sendable, Equatable {
    public var modelType: String
    public var architectures: [String]
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var padTokenId: Int
    public var positionEmbeddingType: String
    /// Outputs of a classification head: `num_labels`, else the size of `id2label`.
    public var numLabels: Int?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case architectures
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps"
        case padTokenId = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type"
        case numLabels = "num_labels"
        case id2label
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "bert"
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? []
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 30522
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? 0
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
        if let n = try c.decodeIfPresent(Int.self, forKey: .numLabels) {
            numLabels = n
        } else if let labels = try c.decodeIfPresent([String: String].self, forKey: .id2label) {
            numLabels = labels.count
        } else {
            numLabels = nil
        }
    }

    public var headDimension: Int { hiddenSize / numAttentionHeads }

    /// Reads and checks `config.json`.
    public static func load(from url: URL) throws -> BERTConfiguration {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelsError.missingFile(path: url.path)
        }
        let config: BERTConfiguration
        do {
            config = try JSONDecoder().decode(BERTConfiguration.self, from: data)
        } catch {
            throw ModelsError.invalidConfiguration(file: url.path, reason: "\(error)")
        }
        try config.validate(file: url.path)
        return config
    }

    public func validate(file: String) throws {
        guard BERTConfiguration.modelTypes.contains(modelType) else {
            throw ModelsError.unknownArchitecture(name: modelType, file: file, supported: BERTConfiguration.modelTypes)
        }
        for (key, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize),
                             ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                             ("intermediate_size", intermediateSize),
                             ("max_position_embeddings", maxPositionEmbeddings),
                             ("type_vocab_size", typeVocabSize)] where value <= 0 {
            throw ModelsError.invalidConfiguration(file: file, reason: "\(key) must be positive, got \(value)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw ModelsError.invalidConfiguration(
                file: file, reason: "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        // Only the erf GELU is implemented; the tanh approximations differ by ~1e-3.
        guard hiddenAct == "gelu" else {
            throw ModelsError.unsupported(key: "hidden_act", value: hiddenAct, file: file)
        }
        guard positionEmbeddingType == "absolute" else {
            throw ModelsError.unsupported(key: "position_embedding_type", value: positionEmbeddingType, file: file)
        }
    }

    /// `model_type` values this file implements.
    public static let modelTypes = ["bert"]
}

// MARK: - Blocks

/// A PyTorch `Linear`: y = x · weightᵀ + bias.
public struct BERTLinear: Sendable {
    public var weight: [Float]  // (outFeatures, inFeatures)
    public var bias: [Float]  // (outFeatures)
    public var outFeatures: Int
    public var inFeatures: Int

    /// y[rows, out] = x[rows, in] · weightᵀ, without the bias (callers fuse it
    /// into the next element-wise pass).
    func product(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                       a: x, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures, c: y, ldc: outFeatures)
        }
    }
}

public struct BERTLayerNorm: Sendable {
    public var weight: [Float]  // (hidden)
    public var bias: [Float]  // (hidden)
    public var epsilon: Float
}

public struct BERTEmbeddings: Sendable {
    public var wordEmbeddings: [Float]  // (vocab, hidden)
    public var positionEmbeddings: [Float]  // (maxPositions, hidden)
    public var tokenTypeEmbeddings: [Float]  // (typeVocab, hidden)
    public var layerNorm: BERTLayerNorm

    /// hidden[t] = LayerNorm(word[id] + position[p] + tokenType[type]).
    func callAsFunction(
        ids: [Int32], types: [Int32], positions: [Int32], hidden: UnsafeMutablePointer<Float>, width: Int
    ) {
        wordEmbeddings.withUnsafeBufferPointer { word in
            positionEmbeddings.withUnsafeBufferPointer { pos in
                tokenTypeEmbeddings.withUnsafeBufferPointer { type in
                    Parallel.forEach(0..<ids.count, minimumChunk: 64) { range in
                        for t in range {
                            let w = word.baseAddress! + Int(ids[t]) * width
                            let p = pos.baseAddress! + Int(positions[t]) * width
                            let y = type.baseAddress! + Int(types[t]) * width
                            let out = hidden + t * width
                            for c in 0..<width { out[c] = w[c] + p[c] + y[c] }
                        }
                    }
                }
            }
        }
        layerNorm.weight.withUnsafeBufferPointer { g in
            layerNorm.bias.withUnsafeBufferPointer { b in
                EncoderKernels.layerNorm(hidden, rows: ids.count, cols: width,
                                         gamma: g.baseAddress!, beta: b.baseAddress!, epsilon: layerNorm.epsilon)
            }
        }
    }
}

/// Self-attention plus its output projection, residual and LayerNorm
/// (transformers' BertAttention = BertSelfAttention + BertSelfOutput).
public struct BERTAttention: Sendable {
    /// query, key and value weights stacked into one product: (3 * hidden, hidden).
    public var queryKeyValue: BERTLinear
    public var output: BERTLinear  // (hidden, hidden)
    public var layerNorm: BERTLayerNorm
    public var heads: Int

    /// hidden[T, H] <- LayerNorm(hidden + Attention(hidden)), using `wide`
    /// (≥ T * 3H) and `narrow` / `context` (≥ T * H) as scratch.
    func callAsFunction(
        hidden: UnsafeMutablePointer<Float>, sequences: [Range<Int>],
        wide qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>,
        narrow: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let width = output.outFeatures
        let tokens = sequences.last?.upperBound ?? 0
        let headDim = width / heads
        let ld = 3 * width
        queryKeyValue.product(hidden, rows: tokens, into: qkv)  // (T, 3H): [q | k | v]
        queryKeyValue.bias.withUnsafeBufferPointer { b in
            EncoderKernels.addBias(qkv, rows: tokens, cols: ld, bias: b.baseAddress!)
        }
        let scale = 1 / Float(headDim).squareRoot()
        for seq in sequences {
            let n = seq.count
            let base = qkv + seq.lowerBound * ld
            // scores: (heads, n, n)
            for h in 0..<heads {
                BLAS.sgemm(transB: true, m: n, n: n, k: headDim, alpha: scale,
                           a: base + h * headDim, lda: ld,
                           b: base + width + h * headDim, ldb: ld,
                           c: scores + h * n * n, ldc: n)
            }
            Parallel.forEach(0..<(heads * n), minimumChunk: 64) { rows in
                for r in rows { EncoderKernels.softmaxRow(scores + r * n, count: n) }
            }
            // context rows of this sequence, heads interleaved as (n, heads * headDim)
            for h in 0..<heads {
                BLAS.sgemm(m: n, n: headDim, k: n,
                           a: scores + h * n * n, lda: n,
                           b: base + 2 * width + h * headDim, ldb: ld,
                           c: context + seq.lowerBound * width + h * headDim, ldc: width)
            }
        }
        output.product(context, rows: tokens, into: narrow)  // (T, H)
        output.bias.withUnsafeBufferPointer { b in
            layerNorm.weight.withUnsafeBufferPointer { g in
                layerNorm.bias.withUnsafeBufferPointer { beta in
                    EncoderKernels.biasResidualLayerNorm(
                        narrow, bias: b.baseAddress!, residual: hidden, rows: tokens, cols: width,
                        gamma: g.baseAddress!, beta: beta.baseAddress!, epsilon: layerNorm.epsilon)
                }
            }
        }
    }
}

/// One encoder block: attention, then the GELU feed-forward with its residual
/// and LayerNorm (BertIntermediate + BertOutput).
public struct BERTLayer: Sendable {
    public var attention: BERTAttention
    public var intermediate: BERTLinear  // (intermediate, hidden)
    public var output: BERTLinear  // (hidden, intermediate)
    public var outputLayerNorm: BERTLayerNorm

    func callAsFunction(
        hidden: UnsafeMutablePointer<Float>, sequences: [Range<Int>],
        wide: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>,
        narrow: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        attention(hidden: hidden, sequences: sequences, wide: wide, context: context, narrow: narrow, scores: scores)
        let tokens = sequences.last?.upperBound ?? 0
        intermediate.product(hidden, rows: tokens, into: wide)  // (T, I)
        intermediate.bias.withUnsafeBufferPointer { b in
            EncoderKernels.biasGELU(wide, rows: tokens, cols: intermediate.outFeatures, bias: b.baseAddress!)
        }
        output.product(wide, rows: tokens, into: narrow)  // (T, H)
        output.bias.withUnsafeBufferPointer { b in
            outputLayerNorm.weight.withUnsafeBufferPointer { g in
                outputLayerNorm.bias.withUnsafeBufferPointer { beta in
                    EncoderKernels.biasResidualLayerNorm(
                        narrow, bias: b.baseAddress!, residual: hidden, rows: tokens, cols: output.outFeatures,
                        gamma: g.baseAddress!, beta: beta.baseAddress!, epsilon: outputLayerNorm.epsilon)
                }
            }
        }
    }
}

// MARK: - Model

/// Token ids of a right-padded batch: row-major (batch, sequenceLength), with
/// an attention mask of 1 for real tokens followed by 0 for padding.
public struct BERTBatch: Sendable, Equatable {
    public var inputIDs: [Int32]  // (batch, sequenceLength)
    public var tokenTypeIDs: [Int32]  // (batch, sequenceLength)
    public var attentionMask: [Int32]  // (batch, sequenceLength)
    public var batchSize: Int
    public var sequenceLength: Int

    public init(inputIDs: [Int32], tokenTypeIDs: [Int32]? = nil, attentionMask: [Int32]? = nil,
                batchSize: Int, sequenceLength: Int) throws {
        let n = batchSize * sequenceLength
        guard batchSize >= 0, sequenceLength >= 0, inputIDs.count == n else {
            throw ModelsError.invalidInput("input_ids has \(inputIDs.count) ids, expected \(batchSize) x \(sequenceLength)")
        }
        let types = tokenTypeIDs ?? [Int32](repeating: 0, count: n)
        let mask = attentionMask ?? [Int32](repeating: 1, count: n)
        guard types.count == n, mask.count == n else {
            throw ModelsError.invalidInput("token_type_ids / attention_mask do not match input_ids' \(batchSize) x \(sequenceLength)")
        }
        self.inputIDs = inputIDs
        self.tokenTypeIDs = types
        self.attentionMask = mask
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
    }

    /// Right-pads ragged sequences with `padID` and builds the mask.
    public init(sequences: [[Int32]], tokenTypes: [[Int32]]? = nil, padID: Int32 = 0) throws {
        let width = sequences.map(\.count).max() ?? 0
        var ids = [Int32](), types = [Int32](), mask = [Int32]()
        ids.reserveCapacity(sequences.count * width)
        for (i, s) in sequences.enumerated() {
            let t = tokenTypes?[safe: i] ?? [Int32](repeating: 0, count: s.count)
            guard t.count == s.count else {
                throw ModelsError.invalidInput("sequence \(i): \(t.count) token types for \(s.count) tokens")
            }
            let pad = width - s.count
            ids += s + [Int32](repeating: padID, count: pad)
            types += t + [Int32](repeating: 0, count: pad)
            mask += [Int32](repeating: 1, count: s.count) + [Int32](repeating: 0, count: pad)
        }
        try self.init(inputIDs: ids, tokenTypeIDs: types, attentionMask: mask,
                      batchSize: sequences.count, sequenceLength: width)
    }
}

/// The encoder's last hidden states, packed: the valid tokens of sequence b
/// are rows `sequences[b]` of `hidden` (tokens, hiddenSize).
public struct BERTHiddenStates: Sendable {
    public var hidden: [Float]  // (tokens, hiddenSize)
    public var sequences: [Range<Int>]
    public var hiddenSize: Int
}

public struct BERTModel: Sendable {
    public var configuration: BERTConfiguration
    public var embeddings: BERTEmbeddings
    public var layers: [BERTLayer]
    /// Dense + tanh over the first token; present in most checkpoints.
    public var pooler: BERTLinear?  // (hidden, hidden)
    /// Sequence-classification head over the pooled output.
    public var classifier: BERTLinear?  // (numLabels, hidden)

    /// Runs the encoder over a right-padded batch.
    public func encode(_ batch: BERTBatch) throws -> BERTHiddenStates {
        let H = configuration.hiddenSize
        var ids = [Int32](), types = [Int32](), positions = [Int32]()
        var sequences = [Range<Int>]()
        ids.reserveCapacity(batch.inputIDs.count)
        var maxLength = 0
        for b in 0..<batch.batchSize {
            let row = b * batch.sequenceLength
            var length = 0
            while length < batch.sequenceLength, batch.attentionMask[row + length] != 0 { length += 1 }
            for j in length..<batch.sequenceLength where batch.attentionMask[row + j] != 0 {
                throw ModelsError.invalidInput("attention_mask row \(b) is not right-padded (1 at position \(j) after a 0)")
            }
            guard length > 0 else {
                throw ModelsError.invalidInput("sequence \(b) has no unmasked tokens")
            }
            guard length <= configuration.maxPositionEmbeddings else {
                throw ModelsError.sequenceTooLong(length: length, maximum: configuration.maxPositionEmbeddings)
            }
            let start = ids.count
            for j in 0..<length {
                let id = batch.inputIDs[row + j], type = batch.tokenTypeIDs[row + j]
                guard id >= 0, Int(id) < configuration.vocabSize else {
                    throw ModelsError.invalidInput("token id \(id) at (\(b), \(j)) is outside the vocabulary of \(configuration.vocabSize)")
                }
                guard type >= 0, Int(type) < configuration.typeVocabSize else {
                    throw ModelsError.invalidInput("token type \(type) at (\(b), \(j)) is outside 0..<\(configuration.typeVocabSize)")
                }
                ids.append(id)
                types.append(type)
                positions.append(Int32(j))
            }
            sequences.append(start..<ids.count)
            maxLength = max(maxLength, length)
        }
        let tokens = ids.count
        guard tokens > 0 else { return BERTHiddenStates(hidden: [], sequences: sequences, hiddenSize: H) }

        let I = configuration.intermediateSize
        let wideWidth = max(3 * H, I)
        var hidden = [Float](repeating: 0, count: tokens * H)  // (T, H)
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: tokens * wideWidth)  // (T, max(3H, I))
        let context = UnsafeMutablePointer<Float>.allocate(capacity: tokens * H)  // (T, H)
        let narrow = UnsafeMutablePointer<Float>.allocate(capacity: tokens * H)  // (T, H)
        let scores = UnsafeMutablePointer<Float>.allocate(
            capacity: configuration.numAttentionHeads * maxLength * maxLength)  // (heads, n, n)
        defer {
            wide.deallocate()
            context.deallocate()
            narrow.deallocate()
            scores.deallocate()
        }
        hidden.withUnsafeMutableBufferPointer { h in
            let hp = h.baseAddress!
            embeddings(ids: ids, types: types, positions: positions, hidden: hp, width: H)
            for layer in layers {
                layer(hidden: hp, sequences: sequences, wide: wide, context: context, narrow: narrow, scores: scores)
            }
        }
        return BERTHiddenStates(hidden: hidden, sequences: sequences, hiddenSize: H)
    }

    /// Mean of each sequence's token states over its unmasked tokens,
    /// L2-normalised when `normalize` (sentence-transformers' Pooling + Normalize).
    public func meanPooled(_ batch: BERTBatch, normalize: Bool = true) throws -> [[Float]] {
        let states = try encode(batch)
        let H = states.hiddenSize
        return states.sequences.map { seq in
            var mean = [Float](repeating: 0, count: H)
            for t in seq {
                for c in 0..<H { mean[c] += states.hidden[t * H + c] }
            }
            let inv = 1 / Float(seq.count)
            for c in 0..<H { mean[c] *= inv }
            if normalize {
                let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
                // F.normalize's eps keeps an all-zero vector at zero.
                let scale = 1 / max(norm, 1e-12)
                for c in 0..<H { mean[c] *= scale }
            }
            return mean
        }
    }

    /// Classification logits (batch, numLabels): pooler (dense + tanh over the
    /// first token) then the classifier, as BertForSequenceClassification.
    public func classify(_ batch: BERTBatch) throws -> [[Float]] {
        guard let pooler, let classifier else {
            throw ModelsError.invalidInput("this BERT checkpoint has no sequence-classification head (pooler + classifier)")
        }
        let states = try encode(batch)
        let H = states.hiddenSize
        let B = states.sequences.count
        guard B > 0 else { return [] }
        var first = [Float](repeating: 0, count: B * H)  // (B, H)
        for (b, seq) in states.sequences.enumerated() {
            for c in 0..<H { first[b * H + c] = states.hidden[seq.lowerBound * H + c] }
        }
        var pooled = [Float](repeating: 0, count: B * H)  // (B, H)
        first.withUnsafeBufferPointer { x in
            pooled.withUnsafeMutableBufferPointer { y in
                pooler.product(x.baseAddress!, rows: B, into: y.baseAddress!)
            }
        }
        for b in 0..<B {
            for c in 0..<H { pooled[b * H + c] = Foundation.tanh(pooled[b * H + c] + pooler.bias[c]) }
        }
        let L = classifier.outFeatures
        var logits = [Float](repeating: 0, count: B * L)  // (B, labels)
        pooled.withUnsafeBufferPointer { x in
            logits.withUnsafeMutableBufferPointer { y in
                classifier.product(x.baseAddress!, rows: B, into: y.baseAddress!)
            }
        }
        return (0..<B).map { b in (0..<L).map { logits[b * L + $0] + classifier.bias[$0] } }
    }

    /// Floating-point operations of one forward pass over sequences of these
    /// lengths (matrix products only: 2·m·n·k each; element-wise work is noise).
    public func flops(sequenceLengths: [Int]) -> Double {
        let H = Double(configuration.hiddenSize), I = Double(configuration.intermediateSize)
        let layers = Double(configuration.numHiddenLayers)
        var total = 0.0
        for n in sequenceLengths.map(Double.init) {
            let linear = n * 2 * (3 * H * H + H * H + 2 * H * I)
            let attention = 2 * 2 * n * n * H  // Q·Kᵀ and P·V over all heads
            total += layers * (linear + attention)
        }
        return total
    }
}

// MARK: - Weight loading and key mapping

extension BERTModel {
    /// Builds the model from named tensors. `tensor(name)` returns nil for an
    /// absent name; `file` names the checkpoint in errors.
    ///
    /// Key mapping: BertModel checkpoints name weights `embeddings.…`,
    /// task models (`BertForSequenceClassification`) prefix them with `bert.`;
    /// old TF conversions call LayerNorm parameters `gamma`/`beta`.
    public init(configuration: BERTConfiguration, file: String,
                tensor: (String) throws -> Tensor?) throws {
        let H = configuration.hiddenSize, I = configuration.intermediateSize
        let prefix = try tensor("bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        func load(_ name: String, _ shape: [Int], prefixed: Bool = true) throws -> [Float] {
            var candidates = [(prefixed ? prefix : "") + name]
            if name.hasSuffix("LayerNorm.weight") {
                candidates.append(candidates[0].replacingOccurrences(of: "LayerNorm.weight", with: "LayerNorm.gamma"))
            } else if name.hasSuffix("LayerNorm.bias") {
                candidates.append(candidates[0].replacingOccurrences(of: "LayerNorm.bias", with: "LayerNorm.beta"))
            }
            for key in candidates {
                if let t = try tensor(key) {
                    guard t.shape == shape else {
                        throw ModelsError.shapeMismatch(tensor: key, expected: shape, actual: t.shape, file: file)
                    }
                    return t.data
                }
            }
            throw ModelsError.missingTensor(name: candidates[0], file: file)
        }
        func linear(_ name: String, out: Int, in inF: Int, prefixed: Bool = true) throws -> BERTLinear {
            BERTLinear(weight: try load(name + ".weight", [out, inF], prefixed: prefixed),
                       bias: try load(name + ".bias", [out], prefixed: prefixed),
                       outFeatures: out, inFeatures: inF)
        }
        func layerNorm(_ name: String) throws -> BERTLayerNorm {
            BERTLayerNorm(weight: try load(name + ".weight", [H]), bias: try load(name + ".bias", [H]),
                          epsilon: configuration.layerNormEps)
        }

        self.configuration = configuration
        embeddings = BERTEmbeddings(
            wordEmbeddings: try load("embeddings.word_embeddings.weight", [configuration.vocabSize, H]),
            positionEmbeddings: try load("embeddings.position_embeddings.weight", [configuration.maxPositionEmbeddings, H]),
            tokenTypeEmbeddings: try load("embeddings.token_type_embeddings.weight", [configuration.typeVocabSize, H]),
            layerNorm: try layerNorm("embeddings.LayerNorm"))
        layers = try (0..<configuration.numHiddenLayers).map { i in
            let p = "encoder.layer.\(i)."
            let q = try linear(p + "attention.self.query", out: H, in: H)
            let k = try linear(p + "attention.self.key", out: H, in: H)
            let v = try linear(p + "attention.self.value", out: H, in: H)
            return BERTLayer(
                attention: BERTAttention(
                    queryKeyValue: BERTLinear(weight: q.weight + k.weight + v.weight, bias: q.bias + k.bias + v.bias,
                                              outFeatures: 3 * H, inFeatures: H),
                    output: try linear(p + "attention.output.dense", out: H, in: H),
                    layerNorm: try layerNorm(p + "attention.output.LayerNorm"),
                    heads: configuration.numAttentionHeads),
                intermediate: try linear(p + "intermediate.dense", out: I, in: H),
                output: try linear(p + "output.dense", out: H, in: I),
                outputLayerNorm: try layerNorm(p + "output.LayerNorm"))
        }
        if try tensor(prefix + "pooler.dense.weight") != nil {
            pooler = try linear("pooler.dense", out: H, in: H)
        } else {
            pooler = nil
        }
        if let w = try tensor("classifier.weight") {
            guard w.rank == 2, w.shape[1] == H else {
                throw ModelsError.shapeMismatch(tensor: "classifier.weight", expected: [configuration.numLabels ?? 1, H],
                                                actual: w.shape, file: file)
            }
            if let labels = configuration.numLabels, labels != w.shape[0] {
                throw ModelsError.shapeMismatch(tensor: "classifier.weight", expected: [labels, H], actual: w.shape, file: file)
            }
            guard pooler != nil else { throw ModelsError.missingTensor(name: prefix + "pooler.dense.weight", file: file) }
            classifier = try linear("classifier", out: w.shape[0], in: H, prefixed: false)
        } else {
            classifier = nil
        }
    }
}

fileprivate extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}

extension BERTModel {
    /// Loads `config.json` and `model.safetensors` (f32, f16 or bf16) from a model directory.
    public init(directory: URL) throws {
        let configuration = try BERTConfiguration.load(from: directory.appendingPathComponent("config.json"))
        let url = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelsError.missingFile(path: url.path) }
        let checkpoint = try SafeTensors(contentsOf: url)
        try self.init(configuration: configuration, file: url.path) { name in
            checkpoint.contains(name) ? try checkpoint.tensor(named: name) : nil
        }
    }
}
