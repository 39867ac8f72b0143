import Foundation

/// Splitting loop work over cores.
///
/// The thread count comes from `LIMRANK_THREADS` when set (benchmarks pin it),
/// otherwise from the active core count. It is read once; nothing mutates it.
public enum Parallel {
    public static let threadCount: Int = {
        if let s = ProcessInfo.processInfo.environment["LIMRANK_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// threadCount - 1 spinning workers (the caller is the last thread), or
    /// none: with one thread, or with `LIMRANK_SPIN=0` (then every parallel
    /// loop goes through `concurrentPerform`, whose workers sleep between
    /// loops: kinder to other processes on a shared machine, slower decode).
    @available(macOS 15, *)
    static let spinningPool: SpinningPool? = {
        guard threadCount > 1, ProcessInfo.processInfo.environment["LIMRANK_SPIN"] != "0" else { return nil }
        return SpinningPool(workers: threadCount - 1)
    }()

    /// Calls `body` on disjoint, contiguous subranges covering `range`, in
    /// parallel. `chunks` defaults to the thread count; ranges smaller than
    /// `minimumChunk` elements per chunk run with fewer chunks (down to a
    /// plain call on the caller's thread) because dispatch costs microseconds.
    public static func forEach(
        _ range: Range<Int>, chunks: Int? = nil, minimumChunk: Int = 1,
        _ body: (Range<Int>) -> Void
    ) {
        let n = range.count
        guard n > 0 else { return }
        let wanted = max(1, chunks ?? threadCount)
        let k = max(1, min(wanted, n / max(1, minimumChunk)))
        if k == 1 {
            body(range)
            return
        }
        func chunk(_ c: Int) {
            let lo = range.lowerBound + n * c / k
            let hi = range.lowerBound + n * (c + 1) / k
            if lo < hi { body(lo..<hi) }
        }
        if #available(macOS 15, *), let pool = spinningPool, k < 1 << 16 {
            if pool.run(chunks: k, chunk) { return }
            // The pool is busy: this loop is nested in one of its jobs, or
            // another thread's loop has the cores. More threads would only
            // contend (measured: the encoder's attention, whose per-head
            // products split again, lost 7% to concurrentPerform here). The
            // same chunks run one after another: a split sgemm rounds
            // differently from a whole one, and results must not depend on
            // what else the process is doing.
            for c in 0..<k { chunk(c) }
            return
        }
        // concurrentPerform wants an escaping-free Sendable closure; the body
        // only touches disjoint subranges, which is the caller's contract.
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: k) { c in
                let lo = range.lowerBound + n * c / k
                let hi = range.lowerBound + n * (c + 1) / k
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}

/// Carries a value the caller guarantees is used race-free across threads
/// (disjoint writes through raw pointers in the parallel kernels, and the
/// training code's parallel loops): the one unchecked-Sendable box.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    @inlinable public init(_ value: T) { self.value = value }
}
