import Foundation
import Hummingbird
import LanguageModels

/// POST /v1/embeddings, the OpenAI shape.
struct EmbeddingsController<Context: RequestContext>: Sendable {
    let embedder: EmbeddingBatcher?
    let reader: RequestBodyReader
    let maxInputs: Int
    var aliases: [String: String] = [:]

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/embeddings") { request, _ in try await self.embeddings(request) }
    }

    func embeddings(_ request: Request) async throws -> Response {
        guard let embedder else {
            throw ServerError.notServed(endpoint: "/v1/embeddings", reason: "the server was started without an embedding model")
        }
        let body = try await reader.decode(EmbeddingsRequest.self, from: request)
        guard case .texts(let texts) = body.input else { throw ServerError.badRequest("'input' is required", param: "input") }
        if texts.isEmpty { throw ServerError.badRequest("'input' must not be empty", param: "input") }
        if texts.count > maxInputs {
            throw ServerError.badRequest("'input' holds \(texts.count) texts; the limit is \(maxInputs)", param: "input")
        }
        if let model = body.model, !model.isEmpty, !ServerBackends.names(model, embedder.identifier, aliases: aliases) {
            throw ServerError.notServed(endpoint: "/v1/embeddings", reason: "model '\(model)' is not loaded (serving '\(embedder.identifier)')")
        }
        let format = body.encoding_format ?? "float"
        guard format == "float" || format == "base64" else {
            throw ServerError.badRequest("'encoding_format' must be 'float' or 'base64', got '\(format)'", param: "encoding_format")
        }
        if let dimensions = body.dimensions, dimensions != embedder.dimension {
            throw ServerError.badRequest("'dimensions' must be \(embedder.dimension) for this model (no Matryoshka truncation)",
                                         param: "dimensions")
        }
        let vectors = try await embedder.embed(texts)
        var tokens = 0
        // Encoders that cannot count report 0 rather than a guess.
        for text in texts { tokens += try await embedder.countTokens(text) ?? 0 }
        let items = vectors.enumerated().map { index, vector in
            EmbeddingsResponse.Item(index: index, embedding: format == "base64" ? .base64(base64(vector)) : .float(vector))
        }
        return try json(EmbeddingsResponse(data: items, model: embedder.identifier,
                                           usage: .init(prompt_tokens: tokens, total_tokens: tokens)))
    }

    /// Little-endian float32, as the OpenAI client libraries decode it.
    private func base64(_ vector: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24 & 0xff)]
        }
        return Data(bytes).base64EncodedString()
    }
}
