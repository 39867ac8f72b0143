import Randomness
/// MinHash signatures over word shingles: the fraction of equal slots of two
/// signatures estimates the Jaccard similarity of their shingle sets.
public struct MinHash: Sendable, Hashable {
    public var permutations: Int
    public var shingleSize: Int
    /// Per-slot seeds of the hash family, fixed so signatures agree across runs.
    let seeds: [UInt64]

    public init(permutations: Int = 128, shingleSize: Int = 3) {
        self.permutations = max(1, permutations)
        self.shingleSize = max(1, shingleSize)
        var generator = SplitMix64(seed: 0x4D49_4E48_4153_48)
        seeds = (0..<self.permutations).map { _ in generator.next() }
    }

    /// Lowercased runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber {
                current.append(ch)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Hashes of the word n-grams of `text` (the whole text when it is shorter than n).
    public func shingles(_ text: String) -> Set<UInt64> {
        let words = Self.words(text)
        guard !words.isEmpty else { return [] }
        if words.count < shingleSize { return [StableHash.of(words.joined(separator: " "))] }
        var out = Set<UInt64>()
        for start in 0...(words.count - shingleSize) {
            out.insert(StableHash.of(words[start..<(start + shingleSize)].joined(separator: " ")))
        }
        return out
    }

    /// (permutations): the minimum of each seeded hash over the shingles.
    public func signature(_ text: String) -> [UInt64] {
        let set = shingles(text)
        guard !set.isEmpty else { return Array(repeating: .max, count: permutations) }
        return seeds.map { seed in
            var minimum = UInt64.max
            for shingle in set {
                let h = StableHash.mix(shingle ^ seed)
                if h < minimum { minimum = h }
            }
            return minimum
        }
    }

    public static func estimatedJaccard(_ a: [UInt64], _ b: [UInt64]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var equal = 0
        for i in a.indices where a[i] == b[i] { equal += 1 }
        return Double(equal) / Double(a.count)
    }

    /// The exact Jaccard of two shingle sets: the reference the estimate is tested against.
    public static func exactJaccard(_ a: Set<UInt64>, _ b: Set<UInt64>) -> Double {
        let union = a.union(b).count
        return union == 0 ? 0 : Double(a.intersection(b).count) / Double(union)
    }
}
