import Foundation
import Hummingbird

/// POST /v1/rerank (Cohere v1/Jina), /v2/rerank (Cohere v2) and POST /rerank (TEI).
struct RerankController<Context: RequestContext>: Sendable {
    let service: RerankService?
    let reader: RequestBodyReader
    let maxDocuments: Int
    var aliases: [String: String] = [:]

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/rerank") { request, _ in try await self.cohere(request, version: 1) }
        // cohere.ClientV2 posts here: the same request without return_documents, results without documents.
        router.post("/v2/rerank") { request, _ in try await self.cohere(request, version: 2) }
        router.post("/rerank") { request, _ in try await self.tei(request) }
    }

    private func served() throws -> RerankService {
        guard let service else { throw ServerError.notServed(endpoint: "rerank", reason: "the server was started without --reranker") }
        return service
    }

    private func check(query: String, count: Int, field: String) throws {
        if query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ServerError.badRequest("'query' must not be empty", param: "query")
        }
        if count == 0 { throw ServerError.badRequest("'\(field)' must hold at least one document", param: field) }
        if count > maxDocuments {
            throw ServerError.badRequest("'\(field)' holds \(count) documents; the limit is \(maxDocuments)", param: field)
        }
    }

    /// Best first; equal scores keep input order.
    private func order(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }

    func cohere(_ request: Request, version: Int) async throws -> Response {
        let service = try served()
        let body = try await reader.decode(RerankRequest.self, from: request)
        try check(query: body.query, count: body.documents.count, field: "documents")
        if let topN = body.top_n, topN < 1 { throw ServerError.badRequest("'top_n' must be at least 1, got \(topN)", param: "top_n") }
        if let model = body.model, !model.isEmpty, !ServerBackends.names(model, service.model, aliases: aliases) {
            throw ServerError.notServed(endpoint: "rerank", reason: "model '\(model)' is not loaded (serving '\(service.model)')")
        }
        let texts = body.documents.map(\.text)
        let scores = try service.fused(try await service.scores(query: body.query, texts: texts), firstStage: body.first_stage_scores)
        let returnDocuments = version == 1 && (body.return_documents ?? false)
        let results = order(scores).prefix(body.top_n ?? texts.count).map { index in
            RerankResponse.Result(index: index, relevance_score: scores[index],
                                  document: returnDocuments ? .init(text: texts[index]) : nil)
        }
        return try json(RerankResponse(id: "rerank-" + UUID().uuidString.lowercased(), model: service.model,
                                       results: Array(results),
                                       meta: .init(api_version: .init(version: String(version)))))
    }

    func tei(_ request: Request) async throws -> Response {
        let service = try served()
        let body = try await reader.decode(TEIRerankRequest.self, from: request)
        try check(query: body.query, count: body.texts.count, field: "texts")
        let scores = try service.fused(try await service.scores(query: body.query, texts: body.texts), firstStage: body.first_stage_scores)
        // Fused scores are already on the fusion's own scale.
        let raw = body.raw_scores ?? false || service.fusion != nil
        let returnText = body.return_text ?? false
        let results = order(scores).map { index in
            TEIRerankResult(index: index, score: raw ? scores[index] : service.normalised(scores[index]),
                            text: returnText ? body.texts[index] : nil)
        }
        return try json(results)
    }
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder.server.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}
