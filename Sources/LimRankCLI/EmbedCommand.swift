import ArgumentParser
import Foundation
import Models

/// `limrank embed`: sentence embeddings from a BERT sentence-transformers model.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embeddings (mean pooling + L2 normalisation) of one or more texts.")

    @Option(help: "Short name (minilm), cache entry or sentence-transformers directory.")
    var model = "minilm"

    @Option(name: .customLong("text"), help: "A text to embed; repeat for several.")
    var texts: [String] = []

    @Option(help: "text or json")
    var format: OutputFormat = .json

    @Option(help: "Texts per forward pass.")
    var batchSize = 32

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("give at least one --text") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() async throws {
        let vectors = try await validationErrors {
            try await BERTSentenceEncoder(directory: try ModelStore().resolve(model)).embed(texts, batchSize: batchSize)
        }
        switch format {
        case .json:
            struct One: Encodable { var model: String; var dim: Int; var embedding: [Float] }
            struct Many: Encodable { var model: String; var dim: Int; var embeddings: [[Float]] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            let data = vectors.count == 1
                ? try encoder.encode(One(model: model, dim: vectors[0].count, embedding: vectors[0]))
                : try encoder.encode(Many(model: model, dim: vectors.first?.count ?? 0, embeddings: vectors))
            print(String(decoding: data, as: UTF8.self))
        case .text:
            for (text, v) in zip(texts, vectors) {
                print("\(text)\t" + v.map { String($0) }.joined(separator: " "))
            }
        }
    }
}
