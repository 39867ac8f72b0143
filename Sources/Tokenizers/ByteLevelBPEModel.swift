import Foundation

/// GPT-2 style byte-level BPE. A word arrives as UTF-8 bytes; every byte starts
/// as its own symbol (the vocabulary id of its byte-level character) and the
/// adjacent pair with the lowest merge rank is merged until none is left.
public struct ByteLevelBPEModel: TokenizerModel {
    let vocab: [String: Int]
    let tokens: [String?]
    /// Id of the single-byte token for each byte value, -1 if absent.
    let byteIDs: [Int]
    /// (left id << 32 | right id) -> (rank, merged id).
    let merges: [UInt64: Merge]
    let ignoreMerges: Bool
    /// Raw bytes -> id, only built for `ignore_merges` (whole words looked up first).
    let wordIDs: [[UInt8]: Int]
    let cache = BPECache(capacity: 20_000)

    struct Merge: Sendable {
        var rank: Int32
        var id: Int32
    }

    public init(vocab: [String: Int], merges: [BPEMerge], ignoreMerges: Bool = false) throws {
        self.vocab = vocab
        self.tokens = try invertVocabulary(vocab, field: "model.vocab")
        var byteIDs = [Int](repeating: -1, count: 256)
        for b in 0..<256 {
            byteIDs[b] = vocab[String(Character(ByteLevelAlphabet.scalarForByte[b]))] ?? -1
        }
        self.byteIDs = byteIDs
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            guard let l = vocab[m.left] else {
                throw TokenizerError.tokenNotInVocabulary(field: "model.merges[\(rank)]", token: m.left)
            }
            guard let r = vocab[m.right] else {
                throw TokenizerError.tokenNotInVocabulary(field: "model.merges[\(rank)]", token: m.right)
            }
            guard let merged = vocab[m.left + m.right] else {
                throw TokenizerError.tokenNotInVocabulary(field: "model.merges[\(rank)]", token: m.left + m.right)
            }
            let key = UInt64(l) << 32 | UInt64(r)
            // A repeated merge keeps its first (best) rank.
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), id: Int32(merged)) }
        }
        self.merges = table
        self.ignoreMerges = ignoreMerges
        var words: [[UInt8]: Int] = [:]
        if ignoreMerges {
            for (token, id) in vocab {
                if let bytes = ByteLevelAlphabet.bytes(of: token) { words[bytes] = id }
            }
        }
        self.wordIDs = words
    }

    public var vocabularySize: Int { tokens.count }
    public func tokenID(for token: String) -> Int? { vocab[token] }
    public func token(for id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    public func tokenize(_ text: [Unicode.Scalar], _ piece: Range<Int>, into ids: inout [Int]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(piece.count * 2)
        for i in piece { UTF8.encode(text[i]) { bytes.append($0) } }
        ids.append(contentsOf: tokenize(bytes: bytes))
    }

    /// The ids of one word given as raw bytes.
    public func tokenize(bytes: [UInt8]) -> [Int] {
        if ignoreMerges, let id = wordIDs[bytes] { return [id] }
        if let hit = cache.get(bytes) { return hit }
        var symbols: [Int] = []
        symbols.reserveCapacity(bytes.count)
        for b in bytes where byteIDs[Int(b)] >= 0 { symbols.append(byteIDs[Int(b)]) }
        let result = symbols.count < 2 ? symbols : BPEMerging.mergeWithHeap(symbols, merges)
        cache.set(bytes, result)
        return result
    }
}

/// The merge loop, twice: a plain quadratic reference and the priority-queue
/// version used for encoding. Both merge the lowest-rank pair first, the
/// leftmost on ties, as HF does.
enum BPEMerging {
    static func mergeReference(_ input: [Int], _ merges: [UInt64: ByteLevelBPEModel.Merge]) -> [Int] {
        var symbols = input
        while symbols.count > 1 {
            var best: (rank: Int32, pos: Int, id: Int32)?
            for i in 0..<(symbols.count - 1) {
                if let m = merges[UInt64(symbols[i]) << 32 | UInt64(symbols[i + 1])], m.rank < (best?.rank ?? .max) {
                    best = (m.rank, i, m.id)
                }
            }
            guard let b = best else { break }
            symbols[b.pos] = Int(b.id)
            symbols.remove(at: b.pos + 1)
        }
        return symbols
    }

    static func mergeWithHeap(_ input: [Int], _ merges: [UInt64: ByteLevelBPEModel.Merge]) -> [Int] {
        let n = input.count
        var symbols = input
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i) - 1 }
            count = n
        }
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = i + 1 < n ? Int32(i + 1) : -1 }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        // Min-heap of rank << 32 | position.
        var heap = MinHeap()
        heap.reserve(n)
        for i in 0..<(n - 1) {
            if let m = merges[UInt64(symbols[i]) << 32 | UInt64(symbols[i + 1])] {
                heap.push(UInt64(m.rank) << 32 | UInt64(i))
            }
        }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let pos = Int(top & 0xFFFF_FFFF)
            guard alive[pos] else { continue }
            let q = Int(next[pos])
            guard q >= 0 else { continue }
            // Stale entry: the pair here changed since it was queued.
            guard let m = merges[UInt64(symbols[pos]) << 32 | UInt64(symbols[q])], m.rank == rank else { continue }
            symbols[pos] = Int(m.id)
            alive[q] = false
            let after = next[q]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let before = Int(prev[pos])
            if before >= 0, let left = merges[UInt64(symbols[before]) << 32 | UInt64(symbols[pos])] {
                heap.push(UInt64(left.rank) << 32 | UInt64(before))
            }
            if after >= 0, let right = merges[UInt64(symbols[pos]) << 32 | UInt64(symbols[Int(after)])] {
                heap.push(UInt64(right.rank) << 32 | UInt64(pos))
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 && i < n {
            out.append(symbols[i])
            i = Int(next[i])
        }
        return out
    }
}

struct MinHeap {
    private var items: [UInt64] = []

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ v: UInt64) {
        items.append(v)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] > items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < items.count, items[l] < items[m] { m = l }
                if r < items.count, items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}

/// Per-word memo of BPE results, shared by copies of the model and safe
/// across threads. Cleared when full rather than evicting one by one.
final class BPECache: @unchecked Sendable {
    // Guarded by `lock`.
    private var entries: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ key: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func set(_ key: [UInt8], _ value: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = value
    }
}
