import Randomness
import Foundation
import Datasets

/// Paired significance tests over per-query values, as IR papers report them
/// (and as ranx computes them): the paired t-test (scipy's `ttest_rel`), the
/// paired randomization test (sign flips of the per-query differences) and
/// Holm's correction when several systems are compared with one baseline.
public enum Significance {
    /// A paired t-test of `system - baseline`.
    public struct TTest: Sendable, Hashable, Codable {
        /// The t statistic (infinite when every difference is the same non-zero value).
        public var t: Double
        /// Degrees of freedom, n - 1.
        public var degreesOfFreedom: Int
        /// Two-sided p-value.
        public var pValue: Double
    }

    /// The two-sided paired t-test, computed as scipy's `ttest_rel(system, baseline)`:
    /// t = mean(d) / (sd(d) / sqrt(n)) with the n - 1 standard deviation.
    ///
    /// Degenerate cases, where scipy answers nan: fewer than two pairs, or
    /// every difference zero, give t = 0 and p = 1 (no evidence of a
    /// difference); equal non-zero differences give an infinite t and p = 0.
    public static func pairedTTest(system: [Double], baseline: [Double]) -> TTest {
        precondition(system.count == baseline.count, "paired samples must have the same length")
        let n = system.count
        guard n >= 2 else { return TTest(t: 0, degreesOfFreedom: max(n - 1, 0), pValue: 1) }
        let differences = zip(system, baseline).map { $0 - $1 }
        let mean = differences.reduce(0, +) / Double(n)
        let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        let df = n - 1
        if variance == 0 {
            if mean == 0 { return TTest(t: 0, degreesOfFreedom: df, pValue: 1) }
            return TTest(t: mean > 0 ? .infinity : -.infinity, degreesOfFreedom: df, pValue: 0)
        }
        let t = mean / (variance / Double(n)).squareRoot()
        return TTest(t: t, degreesOfFreedom: df, pValue: twoSidedStudentT(t, degreesOfFreedom: Double(df)))
    }

    /// P(|T| >= |t|) for Student's t with `degreesOfFreedom`:
    /// I_x(df/2, 1/2) with x = df / (df + t^2).
    public static func twoSidedStudentT(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return 0 }
        return regularizedIncompleteBeta(a: df / 2, b: 0.5, x: df / (df + t * t))
    }

    /// The default number of sign-flip rounds (Smucker et al. use 10^5; 10^4
    /// puts the p-value's standard error below 0.005 at p = 0.05).
    public static let defaultRounds = 10_000

    /// The paired randomization test, two-sided: under the null hypothesis the
    /// sign of each per-query difference is a coin flip. Each round flips every
    /// difference whose draw from `SplitMix64(seed:)` has its top bit set (one
    /// draw per query, in order) and sums them left to right; a round counts
    /// when |sum| >= |observed sum| (up to a relative 1e-12, so that the
    /// identity permutation always counts despite rounding).
    ///
    /// Returns (count + 1) / (rounds + 1), the estimate that includes the
    /// observed arrangement (Phipson & Smyth 2010), so it is never 0.
    /// `Scripts/fixtures/make_significance_fixtures.py` reproduces it exactly.
    public static func randomizationTest(differences: [Double], rounds: Int = defaultRounds, seed: UInt64 = 42) -> Double {
        precondition(rounds > 0, "rounds must be positive")
        var observed = 0.0
        for d in differences { observed += d }
        let threshold = abs(observed) * (1 - 1e-12)
        var generator = SplitMix64(seed: seed)
        var atLeastAsExtreme = 0
        for _ in 0..<rounds {
            var sum = 0.0
            for d in differences {
                sum += generator.next() >> 63 == 1 ? -d : d
            }
            if abs(sum) >= threshold { atLeastAsExtreme += 1 }
        }
        return Double(atLeastAsExtreme + 1) / Double(rounds + 1)
    }

    /// Holm's step-down adjustment (statsmodels' `multipletests(method="holm")`,
    /// as ranx applies it across the systems compared with one baseline): the
    /// i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
    /// Returned in the input's order.
    public static func holm(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        let order = pValues.indices.sorted { pValues[$0] != pValues[$1] ? pValues[$0] < pValues[$1] : $0 < $1 }
        var adjusted = [Double](repeating: 0, count: m)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * pValues[index]))
            adjusted[index] = running
        }
        return adjusted
    }

    /// The regularised incomplete beta function I_x(a, b), by the continued
    /// fraction of Numerical Recipes (`betai`/`betacf`, modified Lentz), using
    /// the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges
    /// slowly. Accurate to ~1e-14 for the arguments a t-test produces.
    public static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        precondition(a > 0 && b > 0, "a and b must be positive")
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        let front = exp(logFront)
        if x < (a + 1) / (a + b + 2) {
            return front * betaContinuedFraction(a: a, b: b, x: x) / a
        }
        return 1 - front * betaContinuedFraction(a: b, b: a, x: 1 - x) / b
    }

    static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }
}
