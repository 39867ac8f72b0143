import Foundation
import Tokenizers

/// Sentence embeddings from a sentence-transformers BERT directory
/// (config.json, model.safetensors, tokenizer.json, 1_Pooling/,
/// sentence_bert_config.json): pooled and normalised as the directory's
/// modules say (`SentenceTransformerDirectory`).
public struct BERTSentenceEncoder: Sendable {
    public let model: BERTModel
    public let tokenizer: Tokenizer
    /// Tokens per text, [CLS] and [SEP] included (`max_seq_length`, 256 for MiniLM).
    public var maxSequenceLength: Int
    public var normalize: Bool
    /// How token states become the sentence embedding.
    public var sentence: SentenceTransformerDirectory

    public var dimension: Int { sentence.pooling.modes.count * model.configuration.hiddenSize }

    public init(directory: URL, maxSequenceLength: Int? = nil) throws {
        model = try BERTModel(directory: directory)
        tokenizer = try Tokenizer(directory: directory)
        // modules.json, the pooling config (either generation) and max_seq_length.
        sentence = try SentenceTransformerDirectory(directory: directory)
        normalize = sentence.normalize
        let length = sentence.maxSequenceLength ?? model.configuration.maxPositionEmbeddings
        self.maxSequenceLength = min(maxSequenceLength ?? length, model.configuration.maxPositionEmbeddings)
    }

    /// One embedding per text, in order; texts are encoded `batchSize` at a time.
    public func embed(_ texts: [String], batchSize: Int = 32) async throws -> [[Float]] {
        guard batchSize > 0 else { throw ModelsError.invalidInput("batch size must be positive, got \(batchSize)") }
        var out = [[Float]]()
        out.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let chunk = texts[start..<min(start + batchSize, texts.count)]
            let ids = chunk.map { tokenizer.encode($0, maxLength: maxSequenceLength).ids.map { Int32($0) } }
            var pipeline = sentence
            pipeline.normalize = normalize
            out += try pipeline.embed(model, try BERTBatch(sequences: ids))
        }
        return out
    }
}

/// A BERT cross-encoder (BertForSequenceClassification): scores each
/// (query, document) pair with its first logit; higher is more relevant.
public struct BERTCrossEncoder: Sendable {
    public let model: BERTModel
    public let tokenizer: Tokenizer
    public var maxSequenceLength: Int

    public init(directory: URL, maxSequenceLength: Int? = nil) throws {
        model = try BERTModel(directory: directory)
        guard model.classifier != nil else {
            throw ModelsError.missingTensor(name: "classifier.weight", file: directory.appendingPathComponent("model.safetensors").path)
        }
        tokenizer = try Tokenizer(directory: directory)
        self.maxSequenceLength = min(maxSequenceLength ?? model.configuration.maxPositionEmbeddings,
                                     model.configuration.maxPositionEmbeddings)
    }

    public func score(query: String, documents: [String], batchSize: Int = 32) async throws -> [Float] {
        guard batchSize > 0 else { throw ModelsError.invalidInput("batch size must be positive, got \(batchSize)") }
        var scores = [Float]()
        for start in stride(from: 0, to: documents.count, by: batchSize) {
            let encodings = try documents[start..<min(start + batchSize, documents.count)].map {
                try tokenizer.encode(pair: query, $0, maxLength: maxSequenceLength)
            }
            let batch = try BERTBatch(sequences: encodings.map { $0.ids.map { Int32($0) } },
                                      tokenTypes: encodings.map { $0.tokenTypeIDs.map { Int32($0) } })
            scores += try model.classify(batch).map { $0[0] }
        }
        return scores
    }
}
