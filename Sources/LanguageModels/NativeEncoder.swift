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
    /// The directory's sentence-transformers pipeline (pooling, Normalize),
    /// or why it cannot embed: a cross-encoder directory need not have one
    /// that LimRank can run, so the error waits until something embeds.
    public var sentence: Result<SentenceTransformerDirectory, ModelsError>

    /// A model directory with config.json, model.safetensors and tokenizer.json;
    /// the length limit comes from sentence_bert_config.json when present.
    public init(directory: URL, maxLength: Int? = nil, batchSize: Int = 32) throws {
        model = try BERTModel(directory: directory)
        tokenizer = try Tokenizer(directory: directory)
        identifier = directory.lastPathComponent
        do {
            sentence = .success(try SentenceTransformerDirectory(directory: directory))
        } catch let error as ModelsError {
            sentence = .failure(error)
        }
        let configured = try? sentence.get().maxSequenceLength
        self.maxLength = min(maxLength ?? configured ?? 512, model.configuration.maxPositionEmbeddings)
        self.batchSize = max(1, batchSize)
    }

    public var dimension: Int { ((try? sentence.get().pooling.modes.count) ?? 1) * model.configuration.hiddenSize }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let pipeline = try sentence.get()
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            let encodings = tokenizer.encode(batch: chunk, maxLength: maxLength, padding: .none)
            let batch = try BERTBatch(sequences: encodings.map { $0.ids.map(Int32.init) },
                                      padID: Int32(tokenizer.specialTokens.pad ?? 0))
            vectors += try pipeline.embed(model, batch)
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
