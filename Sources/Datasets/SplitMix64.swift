/// A small seedable generator (SplitMix64). Every item of a run gets its own,
/// derived from (run seed, item index), so results do not depend on which
/// items ran concurrently or were resumed. It lives in Datasets, the lowest
/// target that both synthesis and the significance tests use.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The generator of item `index` in the run seeded with `seed`.
    public init(seed: UInt64, item index: Int) {
        state = StableHash.mix(seed ^ StableHash.mix(UInt64(truncatingIfNeeded: index) &+ 0x9E37_79B9_7F4A_7C15))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix(state)
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

/// Hashes that are the same in every process (Swift's `Hasher` is seeded per
/// process, which would make dedup and the test model non-deterministic).
public enum StableHash {
    /// SplitMix64's finaliser: a bijective 64-bit mixer.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// FNV-1a over UTF-8, then mixed.
    public static func of(_ text: String, seed: UInt64 = 0) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01B3
        }
        return mix(h)
    }
}
