import Randomness
import ArgumentParser
import Datasets
import Evaluation
import Foundation

/// `limrank compare`: several runs against the first, query by query, with
/// paired significance tests.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare TREC runs with the first (the baseline): means, per-query deltas, wins/ties/losses, paired t-test and randomization p-values.",
        discussion: """
            Every run is scored as `limrank eval` scores it (a judged query a run lacks counts 0), \
            then each system is compared with the baseline on the judged queries: the mean and \
            its delta, wins/ties/losses, the two-sided paired t-test (scipy's ttest_rel) and the \
            two-sided paired randomization test (random sign flips of the per-query differences, \
            --rounds rounds drawn from SplitMix64 seeded with --seed; p = (count + 1) / \
            (rounds + 1)). With several systems both p-values are also given after Holm's \
            correction across the systems, per metric (as ranx does). The runs must answer the \
            same queries, each document once per query.

            --format json prints one object with all of it, including every per-query delta.
            --plot FILE.svg draws, for each system, the per-query deltas of --plot-metric sorted \
            from largest gain to largest loss.

            Examples:
              limrank compare bm25.trec dense.trec fused.trec --dataset cranfield --data data/cranfield
              limrank compare bm25.trec dense.trec --dataset cranfield --data data/cranfield --format json --plot delta.svg
            """)

    @Argument(help: ArgumentHelp("TREC run files; the first is the baseline.", valueName: "run"))
    var runs: [String]

    @OptionGroup var datasetOptions: DatasetOptions

    @Option(name: .customLong("metric"), help: ArgumentHelp(
        "A metric to compare (repeatable): ndcg@K, map, mrr, p@K, recall@K. Default: ndcg@10, map, recall@100, mrr.",
        valueName: "name"))
    var metricNames: [String] = []

    @Option(help: "Rounds of the randomization test.")
    var rounds: Int = Significance.defaultRounds

    @Option(help: "Seed of the randomization test's generator.")
    var seed: UInt64 = 42

    @Option(help: "text (a table) or json (one object on stdout).")
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp("Write the per-query delta plot here (SVG).", valueName: "file.svg"))
    var plot: String?

    @Option(help: ArgumentHelp("The metric of the plot (default: the first compared).", valueName: "name"))
    var plotMetric: String?

    func validate() throws {
        guard runs.count >= 2 else { throw ValidationError("give at least two runs: the baseline first, then the systems to compare with it") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        for name in metricNames + [plotMetric].compactMap({ $0 }) where Measure(name) == nil {
            throw ValidationError("unknown metric '\(name)' (ndcg@K, map, mrr, p@K, recall@K)")
        }
        if datasetOptions.dataset == .followir {
            throw ValidationError("compare does not take followir runs (their queries come in original/changed pairs)")
        }
        if let plotMetric, !metricNames.isEmpty, !measures.contains(Measure(plotMetric)!) {
            throw ValidationError("--plot-metric \(plotMetric) is not among the --metric values")
        }
    }

    var measures: [Measure] {
        metricNames.isEmpty ? Evaluator.standardMeasures() : metricNames.compactMap(Measure.init)
    }

    /// Systems are named by their file names; paths when two file names clash.
    var names: [String] {
        let base = runs.map { URL(fileURLWithPath: $0).lastPathComponent }
        return Set(base).count == base.count ? base : runs
    }

    struct Output: Encodable {
        struct Baseline: Encodable {
            var name: String
            var metrics: [String: Double]
            var perQuery: [String: [String: Double]]
            enum CodingKeys: String, CodingKey { case name, metrics, perQuery = "per_query" }
        }
        struct Metric: Encodable {
            var mean: Double
            var delta: Double
            var wins: Int
            var ties: Int
            var losses: Int
            var t: Double?
            var df: Int
            var pT: Double
            var pTHolm: Double
            var pRandomization: Double
            var pRandomizationHolm: Double
            enum CodingKeys: String, CodingKey {
                case mean, delta, wins, ties, losses, t, df
                case pT = "p_t", pTHolm = "p_t_holm", pRandomization = "p_randomization", pRandomizationHolm = "p_randomization_holm"
            }
        }
        struct System: Encodable {
            var name: String
            var metrics: [String: Metric]
            /// metric -> query -> delta
            var perQueryDelta: [String: [String: Double]]
            enum CodingKeys: String, CodingKey { case name, metrics, perQueryDelta = "per_query_delta" }
        }
        var dataset: String
        var queries: Int
        var rounds: Int
        var seed: UInt64
        var baseline: Baseline
        var systems: [System]
    }

    func run() async throws {
        let comparison = try compare()
        let output = Self.output(comparison, names: names, dataset: datasetOptions.displayName)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        case .text:
            print(Self.table(comparison, names: names))
        }
        if let plot {
            let measure = plotMetric.flatMap(Measure.init) ?? measures[0]
            try Self.plotSVG(comparison, names: names, measure: measure).write(toFile: plot, atomically: true, encoding: .utf8)
            Log.write("wrote \(plot)")
        }
    }

    func compare() throws -> RunComparison {
        let collection = try datasetOptions.load()
        let known = BM25Runs.runQueryIDs(collection)
        let urls = runs.map { URL(fileURLWithPath: $0) }
        let loaded = try urls.map { try TRECFormat.readRun(from: $0, knownQueries: known) }
            .map { Evaluator.removing(collection.excludedDocuments, from: $0) }
        Log.write("comparing \(runs.count - 1) system(s) with \(names[0]), \(rounds) randomization rounds")
        do {
            return try RunComparison(runs: loaded, qrels: collection.qrels, measures: measures, rounds: rounds, seed: seed)
        } catch ComparisonError.differentQueries(let query, let present, let missing) {
            let line = (try? TRECFormat.firstLine(ofQuery: query, inRun: urls[present])).flatMap { $0 }
            throw CompareError(description: "\(runs[present])\(line.map { ":\($0)" } ?? ""): query \(query) is not in \(runs[missing]); compared runs must answer the same queries")
        }
    }

    struct CompareError: Error, CustomStringConvertible {
        var description: String
    }

    static func output(_ comparison: RunComparison, names: [String], dataset: String) -> Output {
        let baselineReport = comparison.reports[0]
        var baselinePerQuery: [String: [String: Double]] = [:]
        for measure in comparison.measures {
            baselinePerQuery[measure.description] = baselineReport.perQuery.mapValues { $0[measure] ?? 0 }
        }
        let baseline = Output.Baseline(
            name: names[0],
            metrics: Dictionary(uniqueKeysWithValues: comparison.measures.map { ($0.description, baselineReport.mean[$0] ?? 0) }),
            perQuery: baselinePerQuery)
        let systems = comparison.systems.enumerated().map { i, byMeasure in
            var metrics: [String: Output.Metric] = [:]
            var deltas: [String: [String: Double]] = [:]
            for measure in comparison.measures {
                let m = byMeasure[measure]!
                metrics[measure.description] = Output.Metric(
                    mean: m.mean, delta: m.delta, wins: m.wins, ties: m.ties, losses: m.losses,
                    t: m.tTest.t.isFinite ? m.tTest.t : nil, df: m.tTest.degreesOfFreedom,
                    pT: m.tTest.pValue, pTHolm: m.tTestPHolm, pRandomization: m.randomizationP, pRandomizationHolm: m.randomizationPHolm)
                deltas[measure.description] = m.perQueryDelta
            }
            return Output.System(name: names[i + 1], metrics: metrics, perQueryDelta: deltas)
        }
        return Output(dataset: dataset, queries: comparison.queries.count, rounds: comparison.rounds, seed: comparison.seed,
                      baseline: baseline, systems: systems)
    }

    static func pValue(_ p: Double) -> String {
        p < 0.0001 ? String(format: "%.1e", p) : String(format: "%.4f", p)
    }

    static func table(_ comparison: RunComparison, names: [String]) -> String {
        let several = comparison.systems.count > 1
        var lines = ["\(comparison.queries.count) queries; baseline \(names[0]); randomization: \(comparison.rounds) rounds, seed \(comparison.seed)"
            + (several ? "; p-values Holm-corrected across \(comparison.systems.count) systems" : "")]
        for measure in comparison.measures {
            lines.append("")
            lines.append(measure.description)
            let nameWidth = max(names.map(\.count).max() ?? 0, 6)
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            lines.append("  " + pad("run", nameWidth) + "  mean    delta    W/T/L        p(t)      p(rand)")
            lines.append("  " + pad(names[0], nameWidth) + "  " + String(format: "%.4f", comparison.reports[0].mean[measure] ?? 0))
            for (i, byMeasure) in comparison.systems.enumerated() {
                let m = byMeasure[measure]!
                let pt = several ? m.tTestPHolm : m.tTest.pValue
                let pr = several ? m.randomizationPHolm : m.randomizationP
                let marker = pr < 0.05 ? " *" : ""
                lines.append("  " + pad(names[i + 1], nameWidth) + "  " + String(format: "%.4f  %+.4f  ", m.mean, m.delta)
                    + pad("\(m.wins)/\(m.ties)/\(m.losses)", 11) + "  " + pad(pValue(pt), 8) + "  " + pValue(pr) + marker)
            }
        }
        lines.append("")
        lines.append("* randomization p < 0.05")
        return lines.joined(separator: "\n")
    }

    static func plotSVG(_ comparison: RunComparison, names: [String], measure: Measure) -> String {
        let several = comparison.systems.count > 1
        let panels = comparison.systems.enumerated().map { i, byMeasure in
            let m = byMeasure[measure]!
            let pt = several ? m.tTestPHolm : m.tTest.pValue
            let pr = several ? m.randomizationPHolm : m.randomizationP
            return DeltaPlot.Panel(
                title: "\(names[i + 1]) vs \(names[0]): \(measure) per query",
                subtitle: String(format: "mean %.4f vs %.4f (%+.4f)", m.mean, m.baselineMean, m.delta)
                    + " \u{00B7} \(m.wins) wins, \(m.ties) ties, \(m.losses) losses \u{00B7} paired t p = \(pValue(pt)), randomization p = \(pValue(pr))"
                    + (several ? " (Holm)" : ""),
                deltas: comparison.queries.map { m.perQueryDelta[$0] ?? 0 })
        }
        return DeltaPlot.svg(panels: panels, measure: measure.description)
    }
}
