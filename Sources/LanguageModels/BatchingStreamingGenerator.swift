import Foundation
import Grammar
import Models

/// The native generator serving several requests at once, as llama.cpp's
/// server does with parallel slots: up to `parallel` sequences are active,
/// each with its own KV cache, sampler (and seed), constraint, budget,
/// log-probabilities and cancellation, and every step advances all of them
/// by one token in ONE shared forward pass (`LlamaModel.decodeStep`, which
/// reads each weight once for all rows). New arrivals are prefilled one at a
/// time between steps; requests beyond `parallel` wait for a free slot.
///
/// Each request's events are exactly those `NativeStreamingGenerator`
/// streams for it alone (same tokens, texts, log-probabilities, finish
/// reasons and usage): the batched step's logits are bit-identical to a
/// one-row forward, and the per-sequence loop below is that generator's.
/// Stop strings are the consumer's, as for the native generator
/// (`StopSequenceFilter`): a consumer that stops reading cancels its stream,
/// which frees its slot at the next step.
public final class BatchingStreamingGenerator: StreamingTextGenerator, TokenCounter, PromptScoringGenerator, @unchecked Sendable {
    // @unchecked Sendable: the scheduler's shared state is behind its lock;
    // a slot's decoding state is touched only by the one loop running it.
    public let native: NativeStreamingGenerator
    /// Most sequences decoded together.
    public let parallel: Int
    private let lock = NSLock()
    private var pending: [Slot] = []
    private var running = false
    private var largest = 0

    public init(_ native: NativeStreamingGenerator, parallel: Int) {
        precondition(parallel > 0, "parallel must be positive, got \(parallel)")
        self.native = native
        self.parallel = parallel
    }

    public var identifier: String { native.identifier }
    public var contextLength: Int { native.contextLength }

    public func countTokens(_ text: String) async throws -> Int { try await native.countTokens(text) }
    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        try await native.truncate(text, maxTokens: maxTokens)
    }
    public func promptLogProbabilities(_ prompt: String) async throws -> [(text: String, logProbability: Double?)] {
        try await native.promptLogProbabilities(prompt)
    }

    public func stream(_ request: TextGenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
        let prompt: [Int]
        do {
            prompt = try native.promptTokens(request.prompt)
        } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let slot = Slot(request: request, prompt: prompt, continuation: continuation)
        continuation.onTermination = { _ in slot.cancel() }
        let start = lock.withLock {
            pending.append(slot)
            if running { return false }
            running = true
            return true
        }
        if start {
            // A thread of its own: the loop computes for as long as requests
            // keep coming, which would hold a thread of Swift's small
            // cooperative pool (two on two cores) that the server needs.
            let generator = self
            Thread.detachNewThread { generator.runLoop() }
        }
        return stream
    }

    /// Requests waiting for a slot (not yet prefilled).
    public var waitingCount: Int { lock.withLock { pending.count } }
    /// The most sequences one decode step has advanced together so far.
    public var largestStep: Int { lock.withLock { largest } }

    /// Runs until no request is active or waiting, then ends (the next
    /// request starts a new loop): admits waiting requests into free slots,
    /// samples every active sequence's next token, and runs one batched
    /// decode step for those that continue.
    private func runLoop() {
        let generator = native.generator
        var active: [Slot] = []
        var caches: [KVCache] = []
        while true {
            let admitted: [Slot] = lock.withLock {
                let free = max(0, parallel - active.count)
                let taken = Array(pending.prefix(free))
                pending.removeFirst(taken.count)
                if taken.isEmpty && active.isEmpty { running = false }
                return taken
            }
            if admitted.isEmpty && active.isEmpty { return }
            for slot in admitted {
                if let cache = slot.start(generator) {
                    active.append(slot)
                    caches.append(cache)
                }
            }
            // Each sequence takes its step's token; those that go on are fed it.
            var tokens: [Int] = []
            var kept: [Slot] = []
            var keptCaches: [KVCache] = []
            for (i, slot) in active.enumerated() {
                if let next = slot.advance(generator) {
                    tokens.append(next)
                    kept.append(slot)
                    keptCaches.append(caches[i])
                }
            }
            active = kept
            caches = keptCaches
            keptCaches = []
            guard !active.isEmpty else { continue }
            lock.withLock { largest = max(largest, tokens.count) }
            do {
                let logits = try generator.model.decodeStep(tokens, caches: &caches)
                for (slot, row) in zip(active, logits) { slot.logits = row }
            } catch {
                for slot in active { slot.continuation.finish(throwing: error) }
                active = []
                caches = []
            }
        }
    }

    /// One request's decoding state: `NativeStreamingGenerator.stream`'s
    /// loop variables, advanced one token per step by the scheduler.
    final class Slot: @unchecked Sendable {
        let request: TextGenerationRequest
        let prompt: [Int]
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        private let cancelLock = NSLock()
        private var cancelled = false
        var sampler = Sampler(.greedy)
        var constraint: TokenConstraint?
        var logits: [Float] = []
        var tokens: [Int] = []
        var emitted = ""
        var count = 0

        init(request: TextGenerationRequest, prompt: [Int],
             continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation) {
            self.request = request
            self.prompt = prompt
            self.continuation = continuation
        }

        func cancel() { cancelLock.withLock { cancelled = true } }
        var isCancelled: Bool { cancelLock.withLock { cancelled } }

        /// The native generator's set-up and prefill; the sequence's cache,
        /// or nil when it already ended (an error, a cancellation).
        func start(_ generator: TextGenerator) -> KVCache? {
            do {
                if isCancelled { throw CancellationError() }
                guard !prompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
                try generator.checkCapacity(promptTokens: prompt.count, maxTokens: request.maxTokens)
                continuation.yield(.started(promptTokens: prompt.count))
                var cache = generator.model.makeCache(capacity: prompt.count + request.maxTokens)
                let sampling = SamplingParameters(temperature: request.temperature, topP: request.topP, seed: request.seed)
                try sampling.validate()
                sampler = Sampler(sampling)
                constraint = try request.responseFormat.map { generator.makeConstraint(for: try generator.grammar(for: $0)) }
                logits = try generator.model.prefill(prompt, cache: &cache)
                return cache
            } catch {
                continuation.finish(throwing: error)
                return nil
            }
        }

        /// One pass of the native loop's body: samples, reports the token,
        /// and returns it when the sequence goes on (nil once it finished).
        func advance(_ generator: TextGenerator) -> Int? {
            do {
                let budget = request.maxTokens
                guard count < budget else { return finish() }
                if isCancelled { throw CancellationError() }
                let next: Int
                if let constraint {
                    if constraint.isComplete { return finish() }
                    var masked = logits
                    try constraint.mask(&masked, remaining: budget - count)
                    next = sampler.sample(masked)
                    constraint.accept(next)
                } else {
                    next = sampler.sample(logits)
                }
                if generator.endOfSequenceIDs.contains(next) {
                    continuation.yield(.finished(.stop, TokenUsage(promptTokens: prompt.count, completionTokens: count)))
                    continuation.finish()
                    return nil
                }
                count += 1
                tokens.append(next)
                continuation.yield(.token(NativeStreamingGenerator.tokenEvent(
                    next, logits: logits, tokens: tokens, emitted: &emitted, last: count == budget,
                    topLogProbabilities: request.topLogProbabilities, generator: generator)))
                if count == budget || constraint?.isComplete == true { return finish() }
                return next
            } catch {
                continuation.finish(throwing: error)
                return nil
            }
        }

        /// The loop's normal end: a completed grammar ends like an end-of-sequence token.
        private func finish() -> Int? {
            let reason: FinishReason = constraint?.isComplete == true ? .stop : .length
            continuation.yield(.finished(reason, TokenUsage(promptTokens: prompt.count, completionTokens: count)))
            continuation.finish()
            return nil
        }
    }
}
