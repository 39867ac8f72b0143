import Foundation
import Hummingbird

/// GET /health, /v1/models, /metrics and /openapi.json.
struct SystemController<Context: RequestContext>: Sendable {
    let models: ModelList
    let metrics: ServerMetrics

    func addRoutes(to router: Router<Context>) {
        router.get("/health") { _, _ in
            try json(["status": "ok"])
        }
        router.get("/v1/models") { _, _ in
            try json(self.models)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }
}
