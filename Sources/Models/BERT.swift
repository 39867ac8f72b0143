import Foundation
import Tensor
import ModelFormats

// BERT encoder (transformers' BertModel / BertForSequenceClassification),
// ordered config -> weight table -> batches -> model -> the forward pass ->
// weight loading. The forward pass is the only one: training runs it with an
// activation record and keeps its backward in Training/BERTTraining.swift.
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

// MARK: - Weight names and layout

/// BERT's weights under transformers' `BertForSequenceClassification` names,
/// in the one order every BERT weight buffer uses: a loaded model, the
/// trainer's parameters and gradients, checkpoints and exports. Loading,
/// training and export read the names from here and nowhere else.
///
/// Query, key and value weights sit next to each other (then their three
/// biases), so the forward pass multiplies them as one (3H, H) product.
public struct BERTLayout: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Offsets of one encoder layer's weights.
    public struct Layer: Sendable, Equatable {
        public var qkvWeight, qkvBias, attentionOutputWeight, attentionOutputBias, attentionNormWeight, attentionNormBias: Int
        public var intermediateWeight, intermediateBias, outputWeight, outputBias, outputNormWeight, outputNormBias: Int
    }

    /// Offsets of a (outFeatures, inFeatures) weight and its bias.
    public struct Linear: Sendable, Equatable {
        public var weight: Int
        public var bias: Int
        public var outFeatures: Int
    }

    /// The table: every weight's name, shape and offset, in buffer order.
    public let entries: [Entry]
    public let word: Int, position: Int, tokenType: Int, embeddingNormWeight: Int, embeddingNormBias: Int
    public let layers: [Layer]
    /// Dense + tanh over the first token.
    public let pooler: Linear?
    /// Sequence-classification head over the pooled output.
    public let classifier: Linear?
    public var count: Int { entries.last.map { $0.offset + $0.count } ?? 0 }

    /// Task checkpoints prefix the encoder's names with this; a bare BertModel does not.
    public static let encoderPrefix = "bert."

    public init(configuration c: BERTConfiguration, pooler hasPooler: Bool, labels: Int?) {
        let H = c.hiddenSize, I = c.intermediateSize
        var entries = [Entry]()
        func add(_ name: String, _ shape: [Int]) -> Int {
            let offset = entries.last.map { $0.offset + $0.count } ?? 0
            entries.append(Entry(name: name, shape: shape, offset: offset))
            return offset
        }
        let e = Self.encoderPrefix + "embeddings."
        word = add(e + "word_embeddings.weight", [c.vocabSize, H])
        position = add(e + "position_embeddings.weight", [c.maxPositionEmbeddings, H])
        tokenType = add(e + "token_type_embeddings.weight", [c.typeVocabSize, H])
        embeddingNormWeight = add(e + "LayerNorm.weight", [H])
        embeddingNormBias = add(e + "LayerNorm.bias", [H])
        layers = (0..<c.numHiddenLayers).map { i in
            let n = Self.encoderPrefix + "encoder.layer.\(i)."
            let qkvWeight = add(n + "attention.self.query.weight", [H, H])
            _ = add(n + "attention.self.key.weight", [H, H])
            _ = add(n + "attention.self.value.weight", [H, H])
            let qkvBias = add(n + "attention.self.query.bias", [H])
            _ = add(n + "attention.self.key.bias", [H])
            _ = add(n + "attention.self.value.bias", [H])
            return Layer(
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                attentionOutputWeight: add(n + "attention.output.dense.weight", [H, H]),
                attentionOutputBias: add(n + "attention.output.dense.bias", [H]),
                attentionNormWeight: add(n + "attention.output.LayerNorm.weight", [H]),
                attentionNormBias: add(n + "attention.output.LayerNorm.bias", [H]),
                intermediateWeight: add(n + "intermediate.dense.weight", [I, H]),
                intermediateBias: add(n + "intermediate.dense.bias", [I]),
                outputWeight: add(n + "output.dense.weight", [H, I]),
                outputBias: add(n + "output.dense.bias", [H]),
                outputNormWeight: add(n + "output.LayerNorm.weight", [H]),
                outputNormBias: add(n + "output.LayerNorm.bias", [H]))
        }
        pooler = hasPooler
            ? Linear(weight: add(Self.encoderPrefix + "pooler.dense.weight", [H, H]),
                     bias: add(Self.encoderPrefix + "pooler.dense.bias", [H]), outFeatures: H)
            : nil
        classifier = labels.map { L in
            Linear(weight: add("classifier.weight", [L, H]), bias: add("classifier.bias", [L]), outFeatures: L)
        }
        self.entries = entries
    }
}

// MARK: - Batches

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

/// A batch packed for the forward pass: the tokens of every sequence back to
/// back, with their positions, and each sequence's rows.
public struct BERTPackedBatch: Sendable, Equatable {
    public var ids: [Int32] = []
    public var types: [Int32] = []
    public var positions: [Int32] = []
    public var sequences: [Range<Int>] = []
    public var tokenCount: Int { ids.count }

    /// Packs sequences (with their token types), checking them against the configuration.
    public init(sequences: [[Int32]], tokenTypes: [[Int32]], configuration: BERTConfiguration) throws {
        guard tokenTypes.count == sequences.count else {
            throw ModelsError.invalidInput("\(tokenTypes.count) token-type rows for \(sequences.count) sequences")
        }
        for (b, (s, t)) in zip(sequences, tokenTypes).enumerated() {
            try append(s[...], types: t[...], sequence: b, configuration: configuration)
        }
    }

    /// Packs a right-padded batch: the rows its attention mask keeps.
    public init(_ batch: BERTBatch, configuration: BERTConfiguration) throws {
        ids.reserveCapacity(batch.inputIDs.count)
        for b in 0..<batch.batchSize {
            let row = b * batch.sequenceLength
            var length = 0
            while length < batch.sequenceLength, batch.attentionMask[row + length] != 0 { length += 1 }
            for j in length..<batch.sequenceLength where batch.attentionMask[row + j] != 0 {
                throw ModelsError.invalidInput("attention_mask row \(b) is not right-padded (1 at position \(j) after a 0)")
            }
            try append(batch.inputIDs[row..<(row + length)], types: batch.tokenTypeIDs[row..<(row + length)],
                       sequence: b, configuration: configuration)
        }
    }

    private mutating func append(_ s: ArraySlice<Int32>, types t: ArraySlice<Int32>, sequence b: Int,
                                 configuration c: BERTConfiguration) throws {
        guard !s.isEmpty else { throw ModelsError.invalidInput("sequence \(b) has no unmasked tokens") }
        guard t.count == s.count else {
            throw ModelsError.invalidInput("sequence \(b): \(t.count) token types for \(s.count) tokens")
        }
        guard s.count <= c.maxPositionEmbeddings else {
            throw ModelsError.sequenceTooLong(length: s.count, maximum: c.maxPositionEmbeddings)
        }
        let start = ids.count
        for (j, (id, type)) in zip(s, t).enumerated() {
            guard id >= 0, Int(id) < c.vocabSize else {
                throw ModelsError.invalidInput("token id \(id) at (\(b), \(j)) is outside the vocabulary of \(c.vocabSize)")
            }
            guard type >= 0, Int(type) < c.typeVocabSize else {
                throw ModelsError.invalidInput("token type \(type) at (\(b), \(j)) is outside 0..<\(c.typeVocabSize)")
            }
            ids.append(id)
            types.append(type)
            positions.append(Int32(j))
        }
        sequences.append(start..<ids.count)
    }
}

/// What a training forward pass keeps for its backward (llm.c's activation
/// tensors), and the dropout masks it applies. A forward pass given none
/// keeps nothing and applies no dropout. Buffers are written by the pass that
/// records into them; masks are drawn by the trainer before it.
public final class BERTActivations: @unchecked Sendable {
    public final class Layer: @unchecked Sendable {
        public let input: FloatBuffer  // (T, H) layer input
        public let qkv: FloatBuffer  // (T, 3H)
        public let probabilities: FloatBuffer  // Σ heads·n², laid out by `probabilityOffsets`
        public let context: FloatBuffer  // (T, H)
        public let normalized1: FloatBuffer, inverseStd1: FloatBuffer, hidden1: FloatBuffer  // attention LayerNorm
        public let intermediate: FloatBuffer  // (T, I) before GELU
        public let activation: FloatBuffer  // (T, I) after GELU
        public let normalized2: FloatBuffer, inverseStd2: FloatBuffer  // output LayerNorm
        /// Inverted-dropout masks (0 or 1/(1−p)): attention probabilities, attention output, feed-forward output.
        public var attentionMask: FloatBuffer?, attentionOutputMask: FloatBuffer?, outputMask: FloatBuffer?

        init(T: Int, H: Int, I: Int, probabilities: Int) {
            input = FloatBuffer(uninitialized: T * H)
            qkv = FloatBuffer(uninitialized: T * 3 * H)
            self.probabilities = FloatBuffer(uninitialized: probabilities)
            context = FloatBuffer(uninitialized: T * H)
            normalized1 = FloatBuffer(uninitialized: T * H)
            inverseStd1 = FloatBuffer(uninitialized: T)
            hidden1 = FloatBuffer(uninitialized: T * H)
            intermediate = FloatBuffer(uninitialized: T * I)
            activation = FloatBuffer(uninitialized: T * I)
            normalized2 = FloatBuffer(uninitialized: T * H)
            inverseStd2 = FloatBuffer(uninitialized: T)
        }
    }

    /// Start of each sequence's (heads, n, n) block in a layer's probabilities.
    public let probabilityOffsets: [Int]
    public let probabilityCount: Int
    public let embeddingNormalized: FloatBuffer, embeddingInverseStd: FloatBuffer
    public var embeddingMask: FloatBuffer?
    public let layers: [Layer]
    /// Head: first-token rows (B, H), tanh(pooler) (B, H), the classifier's input after dropout (B, H).
    public let first: FloatBuffer, pooled: FloatBuffer, classifierInput: FloatBuffer
    public var classifierMask: FloatBuffer?

    public init(batch: BERTPackedBatch, configuration c: BERTConfiguration) {
        let T = batch.tokenCount, H = c.hiddenSize, B = batch.sequences.count
        var offsets = [Int](), total = 0
        for s in batch.sequences {
            offsets.append(total)
            total += c.numAttentionHeads * s.count * s.count
        }
        probabilityOffsets = offsets
        probabilityCount = total
        embeddingNormalized = FloatBuffer(uninitialized: T * H)
        embeddingInverseStd = FloatBuffer(uninitialized: T)
        layers = (0..<c.numHiddenLayers).map { _ in Layer(T: T, H: H, I: c.intermediateSize, probabilities: total) }
        first = FloatBuffer(uninitialized: B * H)
        pooled = FloatBuffer(uninitialized: B * H)
        classifierInput = FloatBuffer(uninitialized: B * H)
    }
}

/// The encoder's last hidden states, packed: the valid tokens of sequence b
/// are rows `sequences[b]` of `hidden` (tokens, hiddenSize).
public struct BERTHiddenStates: Sendable {
    public var hidden: [Float]  // (tokens, hiddenSize)
    public var sequences: [Range<Int>]
    public var hiddenSize: Int

    public init(hidden: [Float], sequences: [Range<Int>], hiddenSize: Int) {
        (self.hidden, self.sequences, self.hiddenSize) = (hidden, sequences, hiddenSize)
    }
}

/// A forward pass's results: the last hidden states (tokens, hidden), packed
/// as the batch, and when the head ran the logits (batch, labels).
public struct BERTForwardOutput: Sendable {
    public var hidden: FloatBuffer
    public var logits: [Float]
}

public struct BERTModel: Sendable {
    public var configuration: BERTConfiguration
    public var layout: BERTLayout
    /// Every weight, laid out by `layout`.
    public var values: [Float]

    public var pooler: BERTLayout.Linear? { layout.pooler }
    public var classifier: BERTLayout.Linear? { layout.classifier }

    /// The values of a weight of the table, by name.
    public func weight(_ name: String) -> ArraySlice<Float>? {
        layout.entries.first { $0.name == name }.map { values[$0.offset..<($0.offset + $0.count)] }
    }

    /// Runs the encoder (and the classification head when `head`) over a packed batch.
    public func forward(_ batch: BERTPackedBatch, head: Bool = false) -> BERTForwardOutput {
        values.withUnsafeBufferPointer { p in
            Self.forward(batch, configuration: configuration, layout: layout, parameters: p.baseAddress!, head: head)
        }
    }

    /// Runs the encoder over a right-padded batch.
    public func encode(_ batch: BERTBatch) throws -> BERTHiddenStates {
        let packed = try BERTPackedBatch(batch, configuration: configuration)
        let states = forward(packed).hidden
        return BERTHiddenStates(hidden: withExtendedLifetime(states) { states.array },
                                sequences: packed.sequences, hiddenSize: configuration.hiddenSize)
    }

    /// Mean of each sequence's token states over its unmasked tokens,
    /// L2-normalised when `normalize` (sentence-transformers' Pooling + Normalize).
    public func meanPooled(_ batch: BERTBatch, normalize: Bool = true) throws -> [[Float]] {
        let packed = try BERTPackedBatch(batch, configuration: configuration)
        let states = forward(packed).hidden
        // The pointer is only valid while `states` lives.
        defer { withExtendedLifetime(states) {} }
        let hidden = states.p
        let H = configuration.hiddenSize
        return packed.sequences.map { seq in
            var mean = [Float](repeating: 0, count: H)
            for t in seq {
                for c in 0..<H { mean[c] += hidden[t * H + c] }
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
        guard let classifier else {
            throw ModelsError.invalidInput("this BERT checkpoint has no sequence-classification head (pooler + classifier)")
        }
        let packed = try BERTPackedBatch(batch, configuration: configuration)
        guard packed.tokenCount > 0 else { return [] }
        let logits = forward(packed, head: true).logits
        let L = classifier.outFeatures
        return (0..<packed.sequences.count).map { b in Array(logits[(b * L)..<((b + 1) * L)]) }
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

// MARK: - The forward pass

extension BERTModel {
    /// The one BERT forward pass, over weights at `parameters` laid out by
    /// `layout`: inference runs it on a loaded model's values, training on
    /// its parameter buffer. With a `record` it keeps every activation the
    /// backward pass (Training's BERTTraining) reads and applies the record's
    /// dropout masks; without one it works in place in a few reused buffers.
    /// Both run the same arithmetic, so a logit is the same to the bit.
    /// `head` runs pooler and classifier (the layout must have them).
    public static func forward(
        _ batch: BERTPackedBatch, configuration c: BERTConfiguration, layout: BERTLayout,
        parameters P: UnsafePointer<Float>, head: Bool, record: BERTActivations? = nil
    ) -> BERTForwardOutput {
        let T = batch.tokenCount, B = batch.sequences.count, H = c.hiddenSize, I = c.intermediateSize
        let eps = c.layerNormEps
        let hidden = FloatBuffer(uninitialized: T * H)
        guard T > 0 else { return BERTForwardOutput(hidden: hidden, logits: []) }
        let sum = FloatBuffer(uninitialized: T * H)
        // Where layer l reads its input: the record's copy when recording, else the running state.
        func layerInput(_ l: Int) -> UnsafeMutablePointer<Float> {
            if let record, l < record.layers.count { return record.layers[l].input.p }
            return hidden.p
        }

        // Embeddings: LayerNorm(word + position + token type), then dropout.
        let ids = batch.ids, types = batch.types, positions = batch.positions
        let word = P + layout.word, position = P + layout.position, tokenType = P + layout.tokenType
        let embedded = sum.p
        Parallel.forEach(0..<T, minimumChunk: 64) { range in
            for t in range {
                let w = word + Int(ids[t]) * H, p = position + Int(positions[t]) * H, y = tokenType + Int(types[t]) * H
                let out = embedded + t * H
                for c in 0..<H { out[c] = w[c] + p[c] + y[c] }
            }
        }
        let x0 = layerInput(0)
        BackwardKernels.layerNormForward(embedded, rows: T, cols: H, gamma: P + layout.embeddingNormWeight,
                                         beta: P + layout.embeddingNormBias, epsilon: eps, output: x0,
                                         normalized: record?.embeddingNormalized.p, inverseStd: record?.embeddingInverseStd.p)
        applyMask(x0, record?.embeddingMask, count: T * H)

        let workspace = record == nil ? (qkv: FloatBuffer(uninitialized: T * 3 * H), context: FloatBuffer(uninitialized: T * H),
                                         intermediate: FloatBuffer(uninitialized: T * I)) : nil
        // Kernels get raw pointers: keep the buffers alive to the end of the pass.
        defer { withExtendedLifetime((sum, workspace?.qkv, workspace?.context, workspace?.intermediate)) {} }
        let heads = c.numAttentionHeads, headDim = c.headDimension
        for (l, w) in layout.layers.enumerated() {
            let saved = record?.layers[l]
            let x = layerInput(l), out = layerInput(l + 1)
            // Self-attention: one (3H, H) product for query, key and value.
            let qkv = saved?.qkv.p ?? workspace!.qkv.p
            BLAS.sgemm(transB: true, m: T, n: 3 * H, k: H, a: x, lda: H, b: P + w.qkvWeight, ldb: H, c: qkv, ldc: 3 * H)
            EncoderKernels.addBias(qkv, rows: T, cols: 3 * H, bias: P + w.qkvBias)
            let context = saved?.context.p ?? workspace!.context.p
            attention(qkv: qkv, context: context, sequences: batch.sequences, hidden: H, heads: heads, headDim: headDim,
                      probabilities: saved?.probabilities.p, offsets: record?.probabilityOffsets ?? [],
                      mask: saved?.attentionMask?.p)
            // Output projection + bias (+ dropout) + residual, LayerNorm.
            BLAS.sgemm(transB: true, m: T, n: H, k: H, a: context, lda: H, b: P + w.attentionOutputWeight, ldb: H,
                       c: sum.p, ldc: H)
            let hidden1 = saved?.hidden1.p ?? x  // in place: x is spent once it is in the residual sum
            EncoderKernels.biasResidualLayerNorm(
                sum.p, bias: P + w.attentionOutputBias, mask: saved?.attentionOutputMask?.p, residual: x, output: hidden1,
                rows: T, cols: H, gamma: P + w.attentionNormWeight, beta: P + w.attentionNormBias, epsilon: eps,
                normalized: saved?.normalized1.p, inverseStd: saved?.inverseStd1.p)
            // Feed-forward: GELU(hidden1·W_iᵀ + b_i)·W_oᵀ + b_o (+ dropout) + residual, LayerNorm.
            let intermediate = saved?.intermediate.p ?? workspace!.intermediate.p
            BLAS.sgemm(transB: true, m: T, n: I, k: H, a: hidden1, lda: H, b: P + w.intermediateWeight, ldb: H,
                       c: intermediate, ldc: I)
            // The backward needs GELU's input, so a record keeps it apart; inference overwrites it.
            let activation = saved?.activation.p ?? intermediate
            EncoderKernels.biasGELU(intermediate, rows: T, cols: I, bias: P + w.intermediateBias, into: saved?.activation.p)
            BLAS.sgemm(transB: true, m: T, n: H, k: I, a: activation, lda: I, b: P + w.outputWeight, ldb: I,
                       c: sum.p, ldc: H)
            EncoderKernels.biasResidualLayerNorm(
                sum.p, bias: P + w.outputBias, mask: saved?.outputMask?.p, residual: hidden1, output: out,
                rows: T, cols: H, gamma: P + w.outputNormWeight, beta: P + w.outputNormBias, epsilon: eps,
                normalized: saved?.normalized2.p, inverseStd: saved?.inverseStd2.p)
        }
        guard head else { return BERTForwardOutput(hidden: hidden, logits: []) }
        guard let pooler = layout.pooler, let classifier = layout.classifier else {
            preconditionFailure("BERT forward with head: the layout has no pooler and classifier")
        }

        // Pooler (dense + tanh over each sequence's first token), dropout, classifier.
        let first = record?.first ?? FloatBuffer(uninitialized: B * H)
        let pooled = record?.pooled ?? FloatBuffer(uninitialized: B * H)
        defer { withExtendedLifetime((first, pooled)) {} }
        for (b, seq) in batch.sequences.enumerated() {
            (first.p + b * H).update(from: hidden.p + seq.lowerBound * H, count: H)
        }
        BLAS.sgemm(transB: true, m: B, n: H, k: H, a: first.p, lda: H, b: P + pooler.weight, ldb: H, c: pooled.p, ldc: H)
        for b in 0..<B {
            for c in 0..<H { pooled.p[b * H + c] = Foundation.tanh(pooled.p[b * H + c] + P[pooler.bias + c]) }
        }
        var dropped = pooled
        if let record {
            dropped = record.classifierInput
            dropped.p.update(from: pooled.p, count: B * H)
            applyMask(dropped.p, record.classifierMask, count: B * H)
        }
        let L = classifier.outFeatures
        var logits = [Float](repeating: 0, count: B * L)
        for b in 0..<B {
            for label in 0..<L {
                let weight = P + classifier.weight + label * H, row = dropped.p + b * H
                var z: Float = 0
                for c in 0..<H { z += row[c] * weight[c] }
                logits[b * L + label] = z + P[classifier.bias + label]
            }
        }
        return BERTForwardOutput(hidden: hidden, logits: logits)
    }

    /// x[i] *= mask[i] when there is a mask.
    static func applyMask(_ x: UnsafeMutablePointer<Float>, _ mask: FloatBuffer?, count: Int) {
        guard let mask else { return }
        let m = mask.p
        for i in 0..<count { x[i] *= m[i] }
    }

    /// Per sequence and head, in parallel: P = softmax(QKᵀ/√d), context = P·V
    /// (P through its dropout mask when there is one). P goes to
    /// `probabilities` (at `offsets`) when kept, else to a per-worker buffer.
    static func attention(
        qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>, sequences: [Range<Int>],
        hidden H: Int, heads: Int, headDim: Int,
        probabilities: UnsafeMutablePointer<Float>?, offsets: [Int], mask: UnsafePointer<Float>?
    ) {
        let ld = 3 * H
        let scale = 1 / Float(headDim).squareRoot()
        let longest = sequences.map(\.count).max() ?? 0
        Parallel.forEach(0..<(sequences.count * heads)) { items in
            let own = probabilities == nil ? UnsafeMutablePointer<Float>.allocate(capacity: longest * longest) : nil
            defer { own?.deallocate() }
            for item in items {
                let b = item / heads, h = item % heads
                let seq = sequences[b], n = seq.count
                let base = qkv + seq.lowerBound * ld
                let p = probabilities.map { $0 + offsets[b] + h * n * n } ?? own!
                BLAS.sgemm(transB: true, m: n, n: n, k: headDim, alpha: scale, a: base + h * headDim, lda: ld,
                           b: base + H + h * headDim, ldb: ld, c: p, ldc: n)
                for r in 0..<n { EncoderKernels.softmaxRow(p + r * n, count: n) }
                var weights = UnsafePointer(p)
                var dropped: UnsafeMutablePointer<Float>?
                if let mask {
                    let d = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
                    let m = mask + offsets[b] + h * n * n
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
}

// MARK: - Weight loading

extension BERTModel {
    /// Builds the model from named tensors. `tensor(name)` returns nil for an
    /// absent name; `file` names the checkpoint in errors.
    ///
    /// Names come from `BERTLayout`; a bare BertModel checkpoint lacks its
    /// `bert.` prefix, and old TF conversions call LayerNorm parameters
    /// `gamma`/`beta`.
    public init(configuration: BERTConfiguration, file: String,
                tensor: (String) throws -> Tensor?) throws {
        let H = configuration.hiddenSize
        let prefix = try tensor(BERTLayout.encoderPrefix + "embeddings.word_embeddings.weight") != nil ? BERTLayout.encoderPrefix : ""
        let hasPooler = try tensor(prefix + "pooler.dense.weight") != nil
        var labels: Int?
        if let w = try tensor("classifier.weight") {
            guard w.rank == 2, w.shape[1] == H else {
                throw ModelsError.shapeMismatch(tensor: "classifier.weight", expected: [configuration.numLabels ?? 1, H],
                                                actual: w.shape, file: file)
            }
            if let n = configuration.numLabels, n != w.shape[0] {
                throw ModelsError.shapeMismatch(tensor: "classifier.weight", expected: [n, H], actual: w.shape, file: file)
            }
            guard hasPooler else { throw ModelsError.missingTensor(name: prefix + "pooler.dense.weight", file: file) }
            labels = w.shape[0]
        }
        let layout = BERTLayout(configuration: configuration, pooler: hasPooler, labels: labels)
        var values = [Float]()
        values.reserveCapacity(layout.count)
        for entry in layout.entries {
            var key = entry.name
            if key.hasPrefix(BERTLayout.encoderPrefix) { key = prefix + key.dropFirst(BERTLayout.encoderPrefix.count) }
            var candidates = [key]
            if key.hasSuffix("LayerNorm.weight") {
                candidates.append(key.replacingOccurrences(of: "LayerNorm.weight", with: "LayerNorm.gamma"))
            } else if key.hasSuffix("LayerNorm.bias") {
                candidates.append(key.replacingOccurrences(of: "LayerNorm.bias", with: "LayerNorm.beta"))
            }
            var found: Tensor?
            for name in candidates {
                guard let t = try tensor(name) else { continue }
                guard t.shape == entry.shape else {
                    throw ModelsError.shapeMismatch(tensor: name, expected: entry.shape, actual: t.shape, file: file)
                }
                found = t
                break
            }
            guard let found else { throw ModelsError.missingTensor(name: key, file: file) }
            values += found.data
        }
        self.configuration = configuration
        self.layout = layout
        self.values = values
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

fileprivate extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
