/// Everything `limrank serve` can be told, with limits that keep one client
/// from exhausting the process.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// When set, every endpoint but /health requires `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Request bodies above this get 413.
    public var maxBodyBytes: Int
    /// A body that has not fully arrived after this long gets 408.
    public var bodyTimeoutSeconds: Double
    /// Rerank requests with more documents get 400.
    public var maxDocuments: Int
    /// Embedding requests with more inputs get 400.
    public var maxEmbeddingInputs: Int
    /// Encoder batching: wait at most this long for more work…
    public var batchWaitMilliseconds: Int
    /// …or until this many texts are pending.
    public var maxBatchTexts: Int
    /// Texts allowed to wait for the encoder; beyond it requests get 429.
    public var maxQueuedTexts: Int
    /// Generations (and non-batched reranks) running at once / allowed to wait.
    public var maxConcurrentGenerations: Int
    public var maxQueuedGenerations: Int
    /// Upper bound on `max_tokens` a client may ask for.
    public var maxGenerationTokens: Int
    /// Completion and chat completion requests decoded together in shared
    /// forward passes (`limrank serve --parallel`, llama.cpp's parallel
    /// slots) when the generator is the native one; more wait, up to
    /// `maxQueuedGenerations`. 1 keeps one generation at a time behind the
    /// gate the reranker shares (`maxConcurrentGenerations`).
    public var parallelGenerations: Int = 1
    /// Retry-After sent with 429.
    public var retryAfterSeconds: Int
    /// The generator's name in /v1/models, responses and requests, as vLLM's
    /// `--served-model-name`: when set, it is the only name accepted.
    public var servedModelName: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil,
                maxBodyBytes: Int = 2 << 20, bodyTimeoutSeconds: Double = 10,
                maxDocuments: Int = 1000, maxEmbeddingInputs: Int = 2048,
                batchWaitMilliseconds: Int = 2, maxBatchTexts: Int = 64, maxQueuedTexts: Int = 4096,
                maxConcurrentGenerations: Int = 1, maxQueuedGenerations: Int = 32,
                maxGenerationTokens: Int = 2048, retryAfterSeconds: Int = 1) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.maxDocuments = maxDocuments
        self.maxEmbeddingInputs = maxEmbeddingInputs
        self.batchWaitMilliseconds = batchWaitMilliseconds
        self.maxBatchTexts = maxBatchTexts
        self.maxQueuedTexts = maxQueuedTexts
        self.maxConcurrentGenerations = maxConcurrentGenerations
        self.maxQueuedGenerations = maxQueuedGenerations
        self.maxGenerationTokens = maxGenerationTokens
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Rejects settings that cannot work, naming the flag.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ value: Any) throws {
            if !ok { throw ServerError.configuration(field: field, reason: "invalid value \(value)") }
        }
        try check((0...65535).contains(port), "port", port)
        try check(!host.isEmpty, "host", host)
        try check(maxBodyBytes > 0, "maxBodyBytes", maxBodyBytes)
        try check(bodyTimeoutSeconds > 0, "bodyTimeoutSeconds", bodyTimeoutSeconds)
        try check(maxDocuments > 0, "maxDocuments", maxDocuments)
        try check(maxEmbeddingInputs > 0, "maxEmbeddingInputs", maxEmbeddingInputs)
        try check(batchWaitMilliseconds >= 0, "batchWaitMilliseconds", batchWaitMilliseconds)
        try check(maxBatchTexts > 0, "maxBatchTexts", maxBatchTexts)
        try check(maxQueuedTexts >= maxBatchTexts, "maxQueuedTexts", maxQueuedTexts)
        try check(maxConcurrentGenerations > 0, "maxConcurrentGenerations", maxConcurrentGenerations)
        try check(maxQueuedGenerations >= 0, "maxQueuedGenerations", maxQueuedGenerations)
        try check(maxGenerationTokens > 0, "maxGenerationTokens", maxGenerationTokens)
        try check(parallelGenerations > 0, "parallelGenerations", parallelGenerations)
        try check(retryAfterSeconds >= 0, "retryAfterSeconds", retryAfterSeconds)
        if let apiKey { try check(!apiKey.isEmpty, "apiKey", "(empty)") }
        if let servedModelName { try check(!servedModelName.isEmpty, "servedModelName", "(empty)") }
    }
}
