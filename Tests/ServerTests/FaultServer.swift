#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A real loopback listener that answers each connection with the next
/// scripted fault (then repeats the last), for testing the HTTP client's
/// retries and timeouts against genuine socket behaviour.
final class FaultServer: Sendable {
    enum Fault: Sendable {
        /// A complete response.
        case respond(status: Int, headers: [String] = [], body: String)
        /// Accepts, reads the request, then sends nothing for this long and closes.
        case stall(seconds: Double)
        /// Declares a longer Content-Length than it sends, then closes.
        case truncated(body: String)
        /// Closes right after reading the request.
        case hangUp
        /// A 200 whose JSON body `answer` computes from the request's body.
        case answer(@Sendable (String) -> String)
    }

    private struct State {
        var script: [Fault]
        var requests: [String] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    let port: Int
    private let listener: Int32
    private let state: Mutex<State>
    /// Applied before answering, so concurrent requests overlap measurably.
    private let answerDelay: Double

    init(_ script: [Fault], answerDelay: Double = 0) throws {
        precondition(!script.isEmpty)
        (listener, port) = try LoopbackSocket.listener()
        state = Mutex(State(script: script))
        self.answerDelay = answerDelay
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var requests: [String] { state.withLock { $0.requests } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            Thread { [self] in handle(fd) }.start()
        }
    }

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        LoopbackSocket.setTimeout(fd, seconds: 5)
        let request = LoopbackSocket.readRequest(fd)
        // A connection that closes without sending a request (a client's
        // pooled or abandoned connection) is not a request: it must not use
        // up a scripted fault meant for the next real one.
        guard !request.isEmpty else { return }
        let fault: Fault = state.withLock { state in
            state.requests.append(request)
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            return state.script.count > 1 ? state.script.removeFirst() : state.script[0]
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        if answerDelay > 0 { Thread.sleep(forTimeInterval: answerDelay) }
        switch fault {
        case let .respond(status, headers, body):
            let head = (["HTTP/1.1 \(status) Scripted", "Content-Type: application/json",
                         "Content-Length: \(body.utf8.count)", "Connection: close"] + headers).joined(separator: "\r\n")
            LoopbackSocket.write(fd, head + "\r\n\r\n" + body)
        case .stall(let seconds):
            Thread.sleep(forTimeInterval: seconds)
        case .truncated(let body):
            LoopbackSocket.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count + 100)\r\n\r\n" + body)
        case .hangUp:
            break
        case .answer(let compute):
            let body = request.range(of: "\r\n\r\n").map { String(request[$0.upperBound...]) } ?? ""
            let reply = compute(body)
            LoopbackSocket.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(reply.utf8.count)\r\nConnection: close\r\n\r\n" + reply)
        }
    }
}
