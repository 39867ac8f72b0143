import CSpinHint
import Foundation
import Synchronization

/// Worker threads that spin between jobs, for `Parallel.forEach`.
///
/// A decode step of a 135M-270M model is a few hundred small products, each
/// split over the cores. Through `DispatchQueue.concurrentPerform` every
/// product woke a sleeping worker: perf put 17% of a SmolLM2 decode in the
/// kernel's scheduler (futex wake-ups, task switches). llama.cpp's thread pool
/// keeps its workers spinning between operations; so does this one, for a
/// short while (`spinRounds`), before they sleep on a condition.
///
/// One job runs at a time. A caller that finds the pool busy (another thread's
/// job, or a nested `forEach` inside a job) gets false and runs its chunks
/// itself, so nothing waits on the pool.
@available(macOS 15, *)
final class SpinningPool: @unchecked Sendable {
    /// What a job's chunks share; lives on the publishing caller's stack.
    private struct Job {
        let body: (Int) -> Void
    }

    /// generation << 32 | chunk count << 16 | next chunk to claim. Claiming
    /// compares the generation too, so a worker late from an earlier job
    /// cannot take a chunk of the next one.
    private let ticket = Atomic<Int>(0)
    /// Chunks of the current generation done.
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    // Written by the owning caller before the ticket is published (release),
    // read by a worker only after it has claimed a chunk of that generation
    // (acquire), while the caller waits for that chunk: never concurrently.
    private var job: UnsafePointer<Job>?
    private var generation = 0
    private let sleep = NSCondition()
    private var sleepers = 0  // guarded by `sleep`

    /// Waits (each with the CPU's pause hint) a spinning worker makes before
    /// it sleeps, and a waiting caller before it yields its core: tens of µs.
    /// 2,000 and 20,000 decoded at the same speed.
    private static let spinRounds = 2_000

    init(workers: Int) {
        for w in 0..<workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "limrank-worker-\(w)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs `body(c)` for c in 0..<chunks on the workers and the calling
    /// thread; false (nothing run) when the pool is busy.
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        precondition(chunks > 0 && chunks < 1 << 16)
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        return withoutActuallyEscaping(body) { body in
            var shared = Job(body: body)
            return withUnsafePointer(to: &shared) { pointer in
                generation = (generation + 1) & 0x7FFF_FFFF
                let gen = generation
                job = pointer
                finished.store(0, ordering: .relaxed)
                ticket.store(gen << 32 | chunks << 16, ordering: .releasing)
                sleep.lock()
                if sleepers > 0 { sleep.broadcast() }
                sleep.unlock()
                while let c = claim(gen) { runChunk(c) }
                var spins = 0
                while finished.load(ordering: .acquiring) < chunks {
                    limrank_spin_hint()
                    spins += 1
                    if spins >= Self.spinRounds { sched_yield() }
                }
                job = nil
                return true
            }
        }
    }

    /// The next chunk of generation `gen`, if any is left.
    private func claim(_ gen: Int) -> Int? {
        var t = ticket.load(ordering: .acquiring)
        while true {
            let next = t & 0xFFFF, chunks = (t >> 16) & 0xFFFF
            guard t >> 32 == gen, next < chunks else { return nil }
            let (exchanged, original) = ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
            if exchanged { return next }
            t = original
        }
    }

    // Not inlined: the job's closure is borrowed for the call and nothing of
    // it is held once `finished` counts the chunk.
    @inline(never)
    private func runChunk(_ c: Int) {
        job!.pointee.body(c)
        finished.add(1, ordering: .releasing)
    }

    private func work() {
        var seen = 0
        while true {
            var spins = 0
            var gen = ticket.load(ordering: .acquiring) >> 32
            while gen == seen {
                limrank_spin_hint()
                spins += 1
                if spins >= Self.spinRounds {
                    sleep.lock()
                    sleepers += 1
                    while ticket.load(ordering: .acquiring) >> 32 == seen { sleep.wait() }
                    sleepers -= 1
                    sleep.unlock()
                    spins = 0
                }
                gen = ticket.load(ordering: .acquiring) >> 32
            }
            seen = gen
            while let c = claim(gen) { runChunk(c) }
        }
    }
}
