import Randomness
import Foundation
import Tensor

/// SplitMix64 seeding a xoshiro256** generator: deterministic for a seed,
/// a plain value (copy it to fork the stream), no global state.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = SplitMix64(seed: seed)
        s = (x.next(), x.next(), x.next(), x.next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool {
        a.s.0 == b.s.0 && a.s.1 == b.s.1 && a.s.2 == b.s.2 && a.s.3 == b.s.3
    }
}

/// How the next token is chosen from logits.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Double
    /// Nucleus: keep the most likely tokens whose probabilities reach `topP` (1 keeps all).
    public var topP: Double
    public var seed: UInt64

    public init(temperature: Double = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParameters()

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else {
            throw ModelsError.invalidInput("temperature must be finite and >= 0, got \(temperature)")
        }
        guard topP > 0, topP <= 1 else { throw ModelsError.invalidInput("top-p must be in (0, 1], got \(topP)") }
    }
}

/// Picks tokens from logits; carries its own generator so runs with the same seed repeat.
public struct Sampler: Sendable {
    public var parameters: SamplingParameters
    public var generator: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        generator = SeededGenerator(seed: parameters.seed)
    }

    public mutating func sample(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { sample($0) }
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        guard parameters.temperature > 0 else {
            return Kernels.argmax(logits.baseAddress!, count: logits.count)
        }
        let probabilities = Sampler.nucleus(logits, temperature: parameters.temperature, topP: parameters.topP)
        var u = generator.nextUnit()
        for (id, p) in probabilities {
            u -= p
            if u < 0 { return id }
        }
        return probabilities.last?.id ?? 0
    }

    /// softmax(logits / temperature) restricted to the smallest most-likely set
    /// whose mass reaches topP, renormalised; descending, ties by lower id.
    /// Computed in Double so the cut-off does not depend on summation order.
    public static func nucleus(_ logits: UnsafeBufferPointer<Float>, temperature: Double, topP: Double)
        -> [(id: Int, probability: Double)]
    {
        let m = Double(logits.max() ?? 0)
        var weights = [(id: Int, probability: Double)]()
        weights.reserveCapacity(logits.count)
        var total = 0.0
        // -infinity is a token masked out (constrained decoding): never kept.
        for (i, l) in logits.enumerated() where !l.isNaN && l != -.infinity {
            let w = Foundation.exp((Double(l) - m) / temperature)
            weights.append((i, w))
            total += w
        }
        weights.sort { $0.probability > $1.probability || ($0.probability == $1.probability && $0.id < $1.id) }
        var kept = 0, mass = 0.0
        for (_, w) in weights {
            kept += 1
            mass += w / total
            if mass >= topP { break }
        }
        let head = weights.prefix(max(1, kept))
        let headMass = head.reduce(0) { $0 + $1.probability }
        return head.map { ($0.id, $0.probability / headMass) }
    }
}
