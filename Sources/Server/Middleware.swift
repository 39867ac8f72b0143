import Foundation
import Hummingbird
import Metrics

/// Turns every error a handler throws into the OpenAI error JSON with the
/// right status, so no client ever sees Hummingbird's default error body.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let failure = ServerError.from(error)
            if case .internalError = failure {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return failure.response()
        }
    }
}

/// Optional bearer-token auth; /health stays open so orchestrators can probe it.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(apiKey.utf8)) else {
            throw ServerError.unauthorized
        }
        return try await next(request, context)
    }
}

/// Comparison whose duration does not reveal how many leading bytes matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<min(a.count, b.count) { difference |= a[i] ^ b[i] }
    return difference == 0
}

/// Request counts and latencies per route and status, through swift-metrics
/// with an injected factory (no global bootstrap, so tests can build many apps).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        // Unknown paths share one label so a scanner cannot create unbounded series.
        let route = ServerMetrics.knownPaths.contains(request.uri.path) ? request.uri.path : "other"
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = ServerError.from(error).response()
        }
        metrics.record(method: request.method.rawValue, route: route, status: Int(response.status.code),
                       duration: ContinuousClock.now - start)
        return response
    }
}
