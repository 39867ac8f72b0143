/// Bounds how many async operations run at once; waiters resume in FIFO order.
///
/// Cancellation of a waiter is not observed: a cancelled task still gets its
/// permit and must `signal()`; use `withPermit` so that always happens.
public actor AsyncSemaphore {
    private var permits: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var head = 0

    public init(permits: Int) {
        precondition(permits > 0, "a semaphore needs at least one permit")
        self.permits = permits
    }

    /// Tasks waiting for a permit right now.
    public var waiting: Int { waiters.count - head }

    public func wait() async {
        if permits > 0 {
            permits -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func signal() {
        if head < waiters.count {
            let next = waiters[head]
            head += 1
            // Compact occasionally so the array does not grow without bound.
            if head > 64, head * 2 > waiters.count {
                waiters.removeFirst(head)
                head = 0
            }
            next.resume()
        } else {
            permits += 1
        }
    }

    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await wait()
        do {
            let value = try await body()
            signal()
            return value
        } catch {
            signal()
            throw error
        }
    }
}
