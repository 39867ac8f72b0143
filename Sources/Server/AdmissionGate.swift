/// Runs at most `maxRunning` jobs at once with at most `maxWaiting` queued
/// behind them; beyond that a job is refused at once (the server answers 429
/// with Retry-After) instead of letting the queue grow without bound.
actor AdmissionGate {
    private let maxRunning: Int
    private let maxWaiting: Int
    private let retryAfterSeconds: Int
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(maxRunning: Int, maxWaiting: Int, retryAfterSeconds: Int) {
        self.maxRunning = maxRunning
        self.maxWaiting = maxWaiting
        self.retryAfterSeconds = retryAfterSeconds
    }

    var waitingCount: Int { waiters.count }

    /// Waits for a slot; throws `ServerError.overloaded` when the queue is full.
    func enter() async throws {
        if running < maxRunning {
            running += 1
            return
        }
        guard waiters.count < maxWaiting else { throw ServerError.overloaded(retryAfterSeconds: retryAfterSeconds) }
        // The slot is handed over by `leave()`, so `running` stays counted.
        await withCheckedContinuation { waiters.append($0) }
    }

    func leave() {
        if waiters.isEmpty {
            running -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await enter()
        do {
            let value = try await body()
            leave()
            return value
        } catch {
            leave()
            throw error
        }
    }
}
