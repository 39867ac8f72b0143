import Randomness
import Foundation
import Models

/// The seeded generator of a training run: data shuffling, validation
/// split, dropout masks, fresh-head initialisation, each from its own stream
/// of the run seed (`init(seed:stream:)`).
public typealias TrainingRNG = SplitMix64

extension SplitMix64 {
    /// Uniform in 0..<bound without modulo bias (Lemire's method).
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }

    /// Standard normal (Box–Muller), for weight initialisation.
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnit(), 0x1.0p-60), u2 = nextUnit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A uniformly random permutation of 0..<count (Fisher–Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(i, nextIndex(below: i + 1))
            }
        }
        return order
    }
}
