import Foundation
import Hummingbird
import LanguageModels
import Logging

/// Builds the whole server: `limrank serve` and the tests call only this.
public func buildApplication(
    configuration: ServerConfiguration, backends: ServerBackends, logger: Logger? = nil,
    onListening: @escaping @Sendable (Int) -> Void = { _ in }
) throws -> some ApplicationProtocol {
    try configuration.validate()
    let metrics = ServerMetrics()
    let router = try buildRouter(configuration: configuration, backends: backends, metrics: metrics)
    var log = logger ?? Logger(label: "limrank.serve")
    if logger == nil { log.logLevel = .info }
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: .seconds(60))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "limrank"),
        onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) },
        logger: log)
}

/// The routes and middleware, usable in process (HummingbirdTesting's `.router`).
public func buildRouter(
    configuration: ServerConfiguration, backends: ServerBackends, metrics: ServerMetrics = ServerMetrics()
) throws -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: OpenAIErrorMiddleware())
    if let apiKey = configuration.apiKey { router.add(middleware: BearerAuthMiddleware(apiKey: apiKey)) }

    let reader = RequestBodyReader(maxBytes: configuration.maxBodyBytes, timeoutSeconds: configuration.bodyTimeoutSeconds)
    let batcher = backends.embedder.map {
        EmbeddingBatcher(encoder: $0, maxBatch: configuration.maxBatchTexts, maxQueued: configuration.maxQueuedTexts,
                         maxWait: .milliseconds(configuration.batchWaitMilliseconds),
                         retryAfterSeconds: configuration.retryAfterSeconds, metrics: metrics)
    }
    // One gate for everything that runs the generator, since it is one model on the same cores.
    let generationGate = AdmissionGate(maxRunning: configuration.maxConcurrentGenerations,
                                       maxWaiting: configuration.maxQueuedGenerations,
                                       retryAfterSeconds: configuration.retryAfterSeconds)
    var rerank: RerankService?
    switch backends.reranker {
    case .none:
        rerank = nil
    case .dense:
        guard let batcher else {
            throw ServerError.configuration(field: "reranker", reason: "the dense reranker needs an embedding model")
        }
        rerank = RerankService(kind: .dense(batcher), model: batcher.identifier, scale: .cosine, fusion: backends.fusion)
    case let .strategy(reranker, model, scale):
        rerank = RerankService(kind: .strategy(reranker, generationGate), model: model, scale: scale, fusion: backends.fusion)
    }

    var models: [ModelList.Model] = []
    let created = Int(Date().timeIntervalSince1970)
    func add(_ id: String, _ capability: String) {
        if let index = models.firstIndex(where: { $0.id == id }) {
            models[index].capabilities.append(capability)
        } else {
            models.append(.init(id: id, created: created, capabilities: [capability]))
        }
    }
    if let rerank { add(rerank.model, "rerank") }
    if let embedder = backends.embedder { add(embedder.identifier, "embeddings") }
    if let generator = backends.generator { add(configuration.servedModelName ?? generator.identifier, "generation") }

    SystemController<BasicRequestContext>(models: ModelList(data: models), metrics: metrics).addRoutes(to: router)
    RerankController<BasicRequestContext>(service: rerank, reader: reader, maxDocuments: configuration.maxDocuments, aliases: backends.aliases)
        .addRoutes(to: router)
    EmbeddingsController<BasicRequestContext>(embedder: batcher, reader: reader, maxInputs: configuration.maxEmbeddingInputs,
                                              aliases: backends.aliases)
        .addRoutes(to: router)
    // With parallel slots the native generator batches concurrent
    // completions into shared decode steps, behind a gate of their own that
    // admits as many as it decodes together.
    var completionsGenerator = backends.generator
    var completionsGate = generationGate
    if configuration.parallelGenerations > 1,
       backends.generator is NativeStreamingGenerator || backends.generator is BatchingStreamingGenerator {
        if let native = backends.generator as? NativeStreamingGenerator {
            completionsGenerator = BatchingStreamingGenerator(native, parallel: configuration.parallelGenerations)
        }
        completionsGate = AdmissionGate(maxRunning: configuration.parallelGenerations,
                                        maxWaiting: configuration.maxQueuedGenerations,
                                        retryAfterSeconds: configuration.retryAfterSeconds)
    }
    CompletionsController<BasicRequestContext>(
        generator: completionsGenerator, gate: completionsGate, reader: reader,
        maxTokens: configuration.maxGenerationTokens, servedName: configuration.servedModelName, aliases: backends.aliases
    ).addRoutes(to: router)
    return router
}
