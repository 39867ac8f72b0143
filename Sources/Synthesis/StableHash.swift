import Randomness
import Models

extension SplitMix64 {
    /// The generator of item `index` in the run seeded with `seed`. Every
    /// item of a run gets its own, so results do not depend on which items
    /// ran concurrently or were resumed.
    public init(seed: UInt64, item index: Int) {
        self.init(seed: seed, stream: UInt64(truncatingIfNeeded: index))
    }
}

/// Hashes that are the same in every process (Swift's `Hasher` is seeded per
/// process, which would make dedup and the test model non-deterministic).
public enum StableHash {
    /// SplitMix64's finaliser: a bijective 64-bit mixer.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 { SplitMix64.mix(value) }

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
