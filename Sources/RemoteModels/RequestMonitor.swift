import Foundation
import Synchronization

/// Counts what an `OpenAICompatibleModel` has on the wire, for progress
/// lines: requests in flight (holding a permit, retries and backoff
/// included), requests answered, and the tokens the server says it read
/// and wrote (`usage`; servers that omit it add nothing).
public final class RequestMonitor: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var inFlight = 0
        public var completed = 0
        public var promptTokens = 0
        public var completionTokens = 0

        public init() {}
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func begin() { state.withLock { $0.inFlight += 1 } }

    func end(promptTokens: Int?, completionTokens: Int?) {
        state.withLock {
            $0.inFlight -= 1
            $0.completed += 1
            $0.promptTokens += promptTokens ?? 0
            $0.completionTokens += completionTokens ?? 0
        }
    }

    func abandon() { state.withLock { $0.inFlight -= 1 } }
}
