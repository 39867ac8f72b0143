import Datasets

/// Why runs cannot be compared query for query.
public enum ComparisonError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Run `system` (an index into the runs, 0 = baseline) has `query` and
    /// run `other` does not.
    case differentQueries(query: String, presentIn: Int, missingFrom: Int)
    case noQueries

    public var description: String {
        switch self {
        case .differentQueries(let query, let present, let missing):
            return "query \(query) is in run \(present + 1) but not in run \(missing + 1): compared runs must answer the same queries"
        case .noQueries:
            return "no judged query to compare"
        }
    }
}

/// One system against the baseline on one measure.
public struct MeasureComparison: Sendable, Hashable, Codable {
    public var mean: Double
    public var baselineMean: Double
    /// mean - baselineMean.
    public var delta: Double
    /// Queries where the system scores higher / the same / lower than the baseline.
    public var wins: Int
    public var ties: Int
    public var losses: Int
    public var tTest: Significance.TTest
    public var randomizationP: Double
    /// The p-values after Holm's correction across the compared systems
    /// (equal to the raw ones when there is a single system).
    public var tTestPHolm: Double
    public var randomizationPHolm: Double
    /// query id -> system value - baseline value.
    public var perQueryDelta: [String: Double]
}

/// Per-query paired comparison of several runs with the first (the baseline).
public struct RunComparison: Sendable {
    public var measures: [Measure]
    /// The queries compared: every judged query (a judged query a run
    /// lacks would score 0, but the runs must all answer the same queries).
    public var queries: [String]
    /// Per run (baseline first): the evaluation report.
    public var reports: [EvaluationReport]
    /// Per non-baseline run, per measure.
    public var systems: [[Measure: MeasureComparison]]
    public var rounds: Int
    public var seed: UInt64

    /// Differences this small count as ties (per-query values of identical
    /// rankings are bit-equal; this only absorbs summation-order noise).
    public static let tieTolerance = 1e-12

    public init(runs: [Run], qrels: Qrels, measures: [Measure], rounds: Int = Significance.defaultRounds, seed: UInt64 = 42) throws {
        precondition(runs.count >= 2, "compare needs a baseline and at least one system")
        // The query sets must agree, judged or not: a system that skipped
        // queries would otherwise be compared on a different sample.
        let sets = runs.map { Set($0.rankings.keys) }
        for (i, set) in sets.enumerated().dropFirst() {
            if let extra = set.subtracting(sets[0]).min() {
                throw ComparisonError.differentQueries(query: extra, presentIn: i, missingFrom: 0)
            }
            if let missing = sets[0].subtracting(set).min() {
                throw ComparisonError.differentQueries(query: missing, presentIn: 0, missingFrom: i)
            }
        }
        self.measures = measures
        self.rounds = rounds
        self.seed = seed
        reports = runs.map { Evaluator.evaluate(run: $0, qrels: qrels, measures: measures, unretrieved: .countAsZero) }
        queries = reports[0].perQuery.keys.sorted()
        guard !queries.isEmpty else { throw ComparisonError.noQueries }
        let baseline = reports[0]
        var systems: [[Measure: MeasureComparison]] = []
        for report in reports.dropFirst() {
            var byMeasure: [Measure: MeasureComparison] = [:]
            for measure in measures {
                let base = queries.map { baseline.perQuery[$0]?[measure] ?? 0 }
                let values = queries.map { report.perQuery[$0]?[measure] ?? 0 }
                let deltas = zip(values, base).map { $0 - $1 }
                let wins = deltas.filter { $0 > Self.tieTolerance }.count
                let losses = deltas.filter { $0 < -Self.tieTolerance }.count
                byMeasure[measure] = MeasureComparison(
                    mean: report.mean[measure] ?? 0, baselineMean: baseline.mean[measure] ?? 0,
                    delta: (report.mean[measure] ?? 0) - (baseline.mean[measure] ?? 0),
                    wins: wins, ties: deltas.count - wins - losses, losses: losses,
                    tTest: Significance.pairedTTest(system: values, baseline: base),
                    randomizationP: Significance.randomizationTest(differences: deltas, rounds: rounds, seed: seed),
                    tTestPHolm: 0, randomizationPHolm: 0,
                    perQueryDelta: Dictionary(uniqueKeysWithValues: zip(queries, deltas)))
            }
            systems.append(byMeasure)
        }
        // Holm across systems, separately for each measure and each test.
        for measure in measures {
            let t = Significance.holm(systems.map { $0[measure]!.tTest.pValue })
            let r = Significance.holm(systems.map { $0[measure]!.randomizationP })
            for i in systems.indices {
                systems[i][measure]!.tTestPHolm = t[i]
                systems[i][measure]!.randomizationPHolm = r[i]
            }
        }
        self.systems = systems
    }
}
