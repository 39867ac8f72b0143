/// Keeps the `capacity` best (score, document) pairs seen. "Better" means a
/// higher score, and on equal scores the lower document position, so the
/// result never depends on the order documents are offered in.
struct TopKHeap {
    struct Entry: Equatable {
        var document: UInt32
        var score: Float
    }

    let capacity: Int
    /// A min-heap: the root is the worst entry kept.
    private(set) var entries: [Entry] = []

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        entries.reserveCapacity(min(self.capacity, 1 << 16))
    }

    @inline(__always)
    static func isBetter(_ a: Entry, _ b: Entry) -> Bool {
        a.score > b.score || (a.score == b.score && a.document < b.document)
    }

    mutating func offer(document: UInt32, score: Float) {
        let e = Entry(document: document, score: score)
        if entries.count < capacity {
            entries.append(e)
            siftUp(entries.count - 1)
        } else if capacity > 0, Self.isBetter(e, entries[0]) {
            entries[0] = e
            siftDown(0)
        }
    }

    func sortedDescending() -> [Entry] {
        entries.sorted(by: Self.isBetter)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.isBetter(entries[parent], entries[i]) else { return }
            entries.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = entries.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var worst = i
            if l < n && Self.isBetter(entries[worst], entries[l]) { worst = l }
            if r < n && Self.isBetter(entries[worst], entries[r]) { worst = r }
            if worst == i { return }
            entries.swapAt(i, worst)
            i = worst
        }
    }
}
