import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The server's metrics: a Prometheus registry fed through swift-metrics
/// handlers built from its own factory.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let batchSizes: CoreMetrics.Recorder
    private let queuedTexts: CoreMetrics.Gauge
    private let rejected: CoreMetrics.Counter

    static let knownPaths: Set<String> = [
        "/v1/rerank", "/v2/rerank", "/rerank", "/v1/embeddings", "/v1/chat/completions", "/v1/completions",
        "/v1/models", "/health", "/metrics", "/openapi.json",
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        batchSizes = CoreMetrics.Recorder(label: "limrank_encoder_batch_texts", dimensions: [], aggregate: true, factory: factory)
        queuedTexts = CoreMetrics.Gauge(label: "limrank_encoder_queued_texts", dimensions: [], factory: factory)
        rejected = CoreMetrics.Counter(label: "limrank_rejected_overload_total", dimensions: [], factory: factory)
    }

    func record(method: String, route: String, status: Int, duration: Duration) {
        let dimensions = [("method", method), ("path", route), ("status", String(status))]
        CoreMetrics.Counter(label: "limrank_http_requests_total", dimensions: dimensions, factory: factory).increment()
        CoreMetrics.Timer(label: "limrank_http_request_duration_seconds", dimensions: [("path", route)], factory: factory)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func recordBatch(texts: Int) { batchSizes.record(texts) }
    func recordQueue(texts: Int) { queuedTexts.record(texts) }
    func recordRejection() { rejected.increment() }

    /// The Prometheus text exposition format.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
