import LanguageModels

/// Dynamic batching of encoder work across concurrent requests: texts from
/// all callers are collected for up to `maxWait` or until `maxBatch` are
/// pending, then encoded in one call, one batch at a time (the encoder uses
/// every core already). More than `maxQueued` waiting texts is refused with
/// `ServerError.overloaded`.
public actor EmbeddingBatcher: TextEmbedder {
    private struct Job {
        var texts: [String]
        var continuation: CheckedContinuation<[[Float]], Error>
    }

    private let encoder: any TextEmbedder
    private let maxBatch: Int
    private let maxQueued: Int
    private let maxWait: Duration
    private let retryAfterSeconds: Int
    private let metrics: ServerMetrics?
    private var queue: [Job] = []
    private var queuedTexts = 0
    private var working = false

    public nonisolated let identifier: String
    public nonisolated let dimension: Int

    public init(encoder: any TextEmbedder, maxBatch: Int, maxQueued: Int, maxWait: Duration,
                retryAfterSeconds: Int = 1, metrics: ServerMetrics? = nil) {
        self.encoder = encoder
        self.maxBatch = max(1, maxBatch)
        self.maxQueued = max(maxBatch, maxQueued)
        self.maxWait = maxWait
        self.retryAfterSeconds = retryAfterSeconds
        self.metrics = metrics
        identifier = encoder.identifier
        dimension = encoder.dimension
    }

    /// Texts waiting for the encoder (not counting the batch inside it).
    var pendingTexts: Int { queuedTexts }

    /// The encoder's token count, nil when it cannot count.
    public nonisolated func countTokens(_ text: String) async throws -> Int? {
        guard let counter = encoder as? any TokenCounter else { return nil }
        return try await counter.countTokens(text)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        if texts.isEmpty { return [] }
        guard queuedTexts + texts.count <= maxQueued else {
            metrics?.recordRejection()
            throw ServerError.overloaded(retryAfterSeconds: retryAfterSeconds)
        }
        return try await withCheckedThrowingContinuation { continuation in
            queue.append(Job(texts: texts, continuation: continuation))
            queuedTexts += texts.count
            metrics?.recordQueue(texts: queuedTexts)
            if !working {
                working = true
                Task { await self.drain() }
            }
        }
    }

    /// Encodes batches until the queue is empty. A job larger than a batch is
    /// split across consecutive batches; a batch may mix several jobs.
    private func drain() async {
        while !queue.isEmpty {
            if maxBatch > queuedTexts, maxWait > .zero {
                try? await Task.sleep(for: maxWait)
            }
            // Take whole jobs while they fit; a first job bigger than a batch goes alone.
            var taken: [Job] = []
            var count = 0
            while let job = queue.first, taken.isEmpty || count + job.texts.count <= maxBatch {
                taken.append(queue.removeFirst())
                count += job.texts.count
            }
            queuedTexts -= count
            metrics?.recordQueue(texts: queuedTexts)
            metrics?.recordBatch(texts: count)
            let texts = taken.flatMap(\.texts)
            do {
                var vectors: [[Float]] = []
                vectors.reserveCapacity(texts.count)
                var start = 0
                while start < texts.count {
                    let end = min(texts.count, start + maxBatch)
                    vectors += try await encoder.embed(Array(texts[start..<end]))
                    start = end
                }
                guard vectors.count == texts.count else {
                    throw ServerError.internalError("encoder returned \(vectors.count) vectors for \(texts.count) texts")
                }
                var offset = 0
                for job in taken {
                    job.continuation.resume(returning: Array(vectors[offset..<offset + job.texts.count]))
                    offset += job.texts.count
                }
            } catch {
                for job in taken { job.continuation.resume(throwing: error) }
            }
        }
        working = false
    }
}
