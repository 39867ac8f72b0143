/// SplitMix64 (Steele, Lea and Flood), the project's one seedable generator:
/// its whole state is one integer, so a value is a reproducible stream that
/// checkpoints and tests can save and compare. Training (`TrainingRNG`),
/// synthesis, sampling's seeding and LoRA's initialisation all draw from it.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable, Codable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// An independent stream for `stream` (e.g. epoch 3's shuffle, item 12 of
    /// a synthesis run), derived from the seed, so drawing from one stream
    /// never shifts another.
    public init(seed: UInt64, stream: UInt64) {
        state = Self.mix(seed ^ Self.mix(stream &+ 0x9E37_79B9_7F4A_7C15))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// SplitMix64's finaliser: a bijective 64-bit mixer.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
