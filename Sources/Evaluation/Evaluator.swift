import Datasets

/// What to do with a judged query that the run has no entry for.
public enum UnretrievedQueries: Sendable, Hashable {
    /// Leave it out of the mean, as trec_eval does by default and as
    /// pytrec_eval does (it only evaluates the run's queries).
    case skip
    /// Score it 0 on every measure and keep it in the mean (trec_eval `-c`).
    /// A system cannot then look better by answering fewer queries.
    case countAsZero
}

/// Per-query values and their means.
public struct EvaluationReport: Sendable {
    public var measures: [Measure]
    /// query id -> measure -> value, for every evaluated query.
    public var perQuery: [String: [Measure: Double]]
    /// Arithmetic mean over the evaluated queries (0 when there are none).
    public var mean: [Measure: Double]
    /// Judged queries the run had no entry for (scored 0 or skipped,
    /// according to the policy).
    public var unretrievedQueries: [String]

    public var queryCount: Int { perQuery.count }
}

public enum Evaluator {
    /// The four measures of the `limrank eval` contract, with recall at `recallCutoff`.
    public static func standardMeasures(recallCutoff: Int = 100) -> [Measure] {
        [.ndcg(cutoff: 10), .averagePrecision, .recall(cutoff: recallCutoff), .reciprocalRank]
    }

    /// Evaluates a run against qrels. Queries of the run without judgements are
    /// ignored (there is nothing to score them against), as in trec_eval.
    public static func evaluate(
        run: Run, qrels: Qrels, measures: [Measure], unretrieved: UnretrievedQueries = .countAsZero
    ) -> EvaluationReport {
        var perQuery: [String: [Measure: Double]] = [:]
        var missing: [String] = []
        for query in qrels.queryIDs {
            if let candidates = run.rankings[query] {
                perQuery[query] = TrecEval.evaluate(candidates, judgements: qrels[query], measures: measures)
            } else {
                missing.append(query)
                if unretrieved == .countAsZero {
                    perQuery[query] = Dictionary(uniqueKeysWithValues: measures.map { ($0, 0.0) })
                }
            }
        }
        var mean: [Measure: Double] = [:]
        for measure in measures {
            // Summed in query-id order so that the mean does not depend on hashing.
            let total = perQuery.keys.sorted().reduce(0.0) { $0 + (perQuery[$1]?[measure] ?? 0) }
            mean[measure] = perQuery.isEmpty ? 0 : total / Double(perQuery.count)
        }
        return EvaluationReport(measures: measures, perQuery: perQuery, mean: mean, unretrievedQueries: missing)
    }

    /// The run without each query's excluded documents (BRIGHT's
    /// `excluded_ids`), which BRIGHT removes before scoring.
    public static func removing(_ excluded: [String: Set<String>], from run: Run) -> Run {
        guard !excluded.isEmpty else { return run }
        var result = run
        for (query, documents) in excluded {
            guard let candidates = result.rankings[query] else { continue }
            result.rankings[query] = candidates.filter { !documents.contains($0.id) }
        }
        return result
    }
}
