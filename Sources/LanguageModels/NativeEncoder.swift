import Foundation
import Models
import Tokenizers

/// The in-process BERT engine behind `TextEmbedder` (mean-pooled sentence
/// embeddings) and `PairScorer` (sequence-classification cross-encoders).
public struct NativeEncoder: TextEmbedder, PairScorer {
    public var model: BERTModel
    public var tokenizer: Tokenizer
    public var identifier: String
    /// Tokens per text (or per pair), special tokens included.
    public var maxLength: Int
    public var batchSize: Int

    /// sentence-transformers' `sentence_bert_config.json`.
    struct SentenceBertConfig: Decodable {
        var max_seq_length: Int?
    }

    /// A model directory with config.json, model.safetensors and tokenizer.json;
    /// the length limit comes from sentence_bert_config.json when present.
    public init(directory: URL, maxLength: Int? = nil, batchSize: Int = 32) throws {
        model = try BERTModel(directory: directory)
        tokenizer = try Tokenizer(directory: directory)
        identifier = directory.lastPathComponent
        let sbert = directory.appendingPathComponent("sentence_bert_config.json")
        let configured = (try? JSONDecoder().decode(SentenceBertConfig.self, from: Data(contentsOf: sbert)))?.max_seq_length
        self.maxLength = min(maxLength ?? configured ?? 512, model.configuration.maxPositionEmbeddings)
        self.batchSize = max(1, batchSize)
    }

    public var dimension: Int { model.configuration.hiddenSize }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            let encodings = tokenizer.encode(batch: chunk, maxLength: maxLength, padding: .none)
            let batch = try BERTBatch(sequences: encodings.map { $0.ids.map(Int32.init) },
                                      padID: Int32(tokenizer.specialTokens.pad ?? 0))
            vectors += try model.meanPooled(batch, normalize: true)
        }
        return vectors
    }

    public func score(query: String, passages: [String]) async throws -> [Float] {
        var logits: [Float] = []
        logits.reserveCapacity(passages.count)
        for start in stride(from: 0, to: passages.count, by: batchSize) {
            let pairs = passages[start..<min(start + batchSize, passages.count)].map { (query, $0) }
            let encodings = try tokenizer.encode(batchPairs: pairs, maxLength: maxLength, padding: .none)
            let batch = try BERTBatch(sequences: encodings.map { $0.ids.map(Int32.init) },
                                      tokenTypes: encodings.map { $0.tokenTypeIDs.map(Int32.init) },
                                      padID: Int32(tokenizer.specialTokens.pad ?? 0))
            logits += try model.classify(batch).map { $0[0] }
        }
        return logits
    }
}
