import Randomness
import Foundation
import Testing
import Datasets
@testable import Evaluation

/// The brief's bound for t-test p-values against scipy's `ttest_rel`.
let tTestTolerance = 1e-6

struct SignificanceCase: Decodable {
    var name: String
    var system: [Double]
    var baseline: [Double]
    var rounds: Int
    var seed: UInt64
    var t: Double
    var t_p: Double
    var randomization_p: Double
}

/// From `Scripts/fixtures/make_significance_fixtures.py` (scipy 1.17.1).
func significanceCases() throws -> [SignificanceCase] {
    struct File: Decodable { var cases: [SignificanceCase] }
    return try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixture.url("significance.json"))).cases
}

@Suite struct SignificanceTests {
    @Test func pairedTTestMatchesScipy() throws {
        for c in try significanceCases() {
            let result = Significance.pairedTTest(system: c.system, baseline: c.baseline)
            #expect(abs(result.t - c.t) <= tTestTolerance * max(1, abs(c.t)), "\(c.name): t \(result.t) vs scipy \(c.t)")
            #expect(abs(result.pValue - c.t_p) <= tTestTolerance, "\(c.name): p \(result.pValue) vs scipy \(c.t_p)")
            #expect(result.degreesOfFreedom == c.system.count - 1)
        }
    }

    /// The Python reference draws the same SplitMix64 stream and sums in the
    /// same order, so the p-values are equal, not merely close.
    @Test func randomizationMatchesSeededReference() throws {
        for c in try significanceCases() {
            let differences = zip(c.system, c.baseline).map { $0 - $1 }
            let p = Significance.randomizationTest(differences: differences, rounds: c.rounds, seed: c.seed)
            #expect(p == c.randomization_p, "\(c.name): \(p) vs reference \(c.randomization_p)")
        }
    }

    @Test func randomizationDependsOnSeedAndIsTwoSided() {
        let differences: [Double] = [0.1, -0.05, 0.2, 0.0, 0.15, -0.1, 0.3, 0.05, -0.02, 0.12]
        let p = Significance.randomizationTest(differences: differences, rounds: 4000, seed: 1)
        let mirrored = Significance.randomizationTest(differences: differences.map { -$0 }, rounds: 4000, seed: 1)
        #expect(p == mirrored)
        #expect(p != Significance.randomizationTest(differences: differences, rounds: 4000, seed: 2))
        #expect(Significance.randomizationTest(differences: [0, 0, 0], rounds: 100, seed: 1) == 1)
    }

    @Test func degenerateTTests() {
        let same = Significance.pairedTTest(system: [0.5, 0.25], baseline: [0.5, 0.25])
        #expect(same.pValue == 1 && same.t == 0)
        // Exactly representable, so every difference is exactly 0.25.
        let shifted = Significance.pairedTTest(system: [0.75, 0.5, 1.25], baseline: [0.5, 0.25, 1.0])
        #expect(shifted.t == .infinity && shifted.pValue == 0)
    }

    /// Holm by hand: p = (0.01, 0.04, 0.03) sorted 0.01, 0.03, 0.04 ->
    /// 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06.
    @Test func holmByHand() {
        let adjusted = Significance.holm([0.01, 0.04, 0.03])
        #expect(zip(adjusted, [0.03, 0.06, 0.06]).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(Significance.holm([0.5, 0.6]) == [1, 1])
        #expect(Significance.holm([0.2]) == [0.2])
    }

    /// Closed forms: I_x(1, 1) = x, I_x(a, 1) = x^a, and the t distribution
    /// with 1 degree of freedom (Cauchy): P(|T| >= t) = 1 - 2 atan(t) / pi.
    @Test func incompleteBetaClosedForms() {
        for x in [0.01, 0.3, 0.5, 0.77, 0.999] {
            #expect(abs(Significance.regularizedIncompleteBeta(a: 1, b: 1, x: x) - x) < 1e-13)
            #expect(abs(Significance.regularizedIncompleteBeta(a: 3.5, b: 1, x: x) - pow(x, 3.5)) < 1e-13)
        }
        for t in [0.1, 1.0, 2.5, 40.0] {
            #expect(abs(Significance.twoSidedStudentT(t, degreesOfFreedom: 1) - (1 - 2 * atan(t) / .pi)) < 1e-12)
        }
    }
}

@Suite struct RunComparisonTests {
    static let qrels = Qrels(["q1": ["a": 1], "q2": ["b": 2, "c": 1], "q3": ["d": 1]])

    static func run(_ rankings: [String: [String]]) -> Run {
        Run(rankings.mapValues { ids in ids.enumerated().map { ScoredDocument(id: $0.element, score: Double(10 - $0.offset)) } })
    }

    @Test func perQueryDeltasWinsTiesLosses() throws {
        let baseline = Self.run(["q1": ["x", "a"], "q2": ["b", "c"], "q3": ["d"]])
        let system = Self.run(["q1": ["a", "x"], "q2": ["c", "b"], "q3": ["d"]])
        let comparison = try RunComparison(runs: [baseline, system], qrels: Self.qrels, measures: [.reciprocalRank], rounds: 1000, seed: 3)
        let m = try #require(comparison.systems.first?[.reciprocalRank])
        // q1: 1/2 -> 1 (win), q2: first doc relevant in both (tie), q3: tie.
        #expect(m.perQueryDelta == ["q1": 0.5, "q2": 0, "q3": 0])
        #expect(m.wins == 1 && m.ties == 2 && m.losses == 0)
        #expect(abs(m.delta - 0.5 / 3) < 1e-15)
        #expect(m.tTestPHolm == m.tTest.pValue)
    }

    @Test func differentQuerySetsAreRefused() {
        let baseline = Self.run(["q1": ["a"], "q2": ["b"]])
        let system = Self.run(["q1": ["a"], "q2": ["b"], "q9": ["d"]])
        #expect(throws: ComparisonError.differentQueries(query: "q9", presentIn: 1, missingFrom: 0)) {
            try RunComparison(runs: [baseline, system], qrels: Self.qrels, measures: [.reciprocalRank])
        }
        #expect(throws: ComparisonError.differentQueries(query: "q2", presentIn: 0, missingFrom: 1)) {
            try RunComparison(runs: [baseline, Self.run(["q1": ["a"]])], qrels: Self.qrels, measures: [.reciprocalRank])
        }
    }

    @Test func holmAppliesAcrossSystems() throws {
        let baseline = Self.run(["q1": ["x", "a"], "q2": ["x", "b"], "q3": ["x", "d"]])
        let better = Self.run(["q1": ["a", "x"], "q2": ["b", "x"], "q3": ["d", "x"]])
        let partly = Self.run(["q1": ["a", "x"], "q2": ["x", "b"], "q3": ["x", "d"]])
        let comparison = try RunComparison(runs: [baseline, better, partly], qrels: Self.qrels, measures: [.reciprocalRank], rounds: 2000, seed: 5)
        let raw = comparison.systems.map { $0[.reciprocalRank]!.randomizationP }
        let adjusted = comparison.systems.map { $0[.reciprocalRank]!.randomizationPHolm }
        #expect(adjusted == Significance.holm(raw))
        #expect(adjusted[0] > raw[0] || adjusted[1] > raw[1])
    }
}
