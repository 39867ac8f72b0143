/// Interns terms (UTF-16 code units) to dense ids without creating a `String`
/// per token: an open-addressing hash table over one shared arena.
struct TermTable {
    private(set) var arena: [UInt16] = []
    /// Term id -> start of its code units in `arena`; `count + 1` entries.
    private(set) var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    /// Slot -> term id + 1 (0 marks an empty slot).
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { starts.count - 1 }

    func term(_ id: Int) -> ArraySlice<UInt16> { arena[starts[id]..<starts[id + 1]] }

    func string(_ id: Int) -> String { String(decoding: term(id), as: UTF16.self) }

    @inline(__always)
    static func hash(_ t: ArraySlice<UInt16>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in t { h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 29)
    }

    /// The id of `t`, or nil when it was never interned.
    func lookup(_ t: ArraySlice<UInt16>) -> Int? {
        let h = Self.hash(t)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            let id = Int(s) - 1
            if hashes[id] == h && term(id) == t { return id }
            i = (i + 1) & mask
        }
    }

    /// The id of `t`, interning it first when new.
    mutating func intern(_ t: ArraySlice<UInt16>) -> Int {
        let h = Self.hash(t)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { break }
            let id = Int(s) - 1
            if hashes[id] == h && term(id) == t { return id }
            i = (i + 1) & mask
        }
        let id = count
        arena.append(contentsOf: t)
        starts.append(arena.count)
        hashes.append(h)
        slots[i] = Int32(id + 1)
        if count * 2 > slots.count { grow() }
        return id
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: 0, count: size)
        mask = size - 1
        for id in 0..<count {
            var i = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(id + 1)
        }
    }
}
