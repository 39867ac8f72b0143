import Foundation
import Datasets

/// trec_eval's per-query measures, reproduced to the last bit of its
/// arithmetic:
///
/// - Candidates are ordered as trec_eval orders them, not as the run lists
///   them: scores are first narrowed to `Float` (trec_eval stores them as C
///   `float`, so scores equal as floats tie), higher first, and ties go to the
///   document id that is greater in byte order (`strcmp(b, a)`).
/// - A document is relevant when its grade is at least 1; unjudged documents
///   and grades of 0 or below count as non-relevant with gain 0.
/// - The number of relevant documents comes from the qrels, not the run, so
///   judged documents missing from the run still lower recall and MAP.
public enum TrecEval {
    /// The minimum grade of a relevant document (trec_eval's `-l`, default 1).
    public static let relevanceLevel = 1

    /// trec_eval's candidate order.
    public static func ordered(_ candidates: [ScoredDocument]) -> [ScoredDocument] {
        candidates.sorted { a, b in
            let x = Float(a.score), y = Float(b.score)
            if x != y { return x > y }
            return b.id.utf8.lexicographicallyPrecedes(a.id.utf8)
        }
    }

    /// Values of `measures` for one query.
    public static func evaluate(
        _ candidates: [ScoredDocument], judgements: [String: Int], measures: [Measure]
    ) -> [Measure: Double] {
        // grades[i]: the grade of the document at rank i + 1 (0 when unjudged)
        let grades = ordered(candidates).map { max(judgements[$0.id] ?? 0, 0) }
        let relevantCount = judgements.values.filter { $0 >= relevanceLevel }.count
        var values: [Measure: Double] = [:]
        for measure in measures {
            switch measure {
            case .ndcg(let k):
                values[measure] = ndcg(grades: grades, judged: Array(judgements.values), cutoff: k)
            case .averagePrecision:
                values[measure] = averagePrecision(grades: grades, relevantCount: relevantCount)
            case .reciprocalRank:
                values[measure] = reciprocalRank(grades: grades)
            case .precision(let k):
                values[measure] = Double(relevantRetrieved(grades: grades, cutoff: k)) / Double(k)
            case .recall(let k):
                values[measure] = relevantCount == 0 ? 0 : Double(relevantRetrieved(grades: grades, cutoff: k)) / Double(relevantCount)
            }
        }
        return values
    }

    static func relevantRetrieved(grades: [Int], cutoff: Int) -> Int {
        grades.prefix(cutoff).filter { $0 >= relevanceLevel }.count
    }

    /// DCG of the ranking over the DCG of the ideal ranking (all judged
    /// positive grades, highest first), both cut at `cutoff`. Summed in the
    /// order trec_eval sums, so that rounding agrees too.
    static func ndcg(grades: [Int], judged: [Int], cutoff: Int) -> Double {
        var dcg = 0.0
        for (i, grade) in grades.prefix(cutoff).enumerated() where grade > 0 {
            dcg += Double(grade) / log2(Double(i + 2))
        }
        let ideal = judged.filter { $0 > 0 }.sorted(by: >).prefix(cutoff)
        var idcg = 0.0
        for (i, grade) in ideal.enumerated() {
            idcg += Double(grade) / log2(Double(i + 2))
        }
        return idcg > 0 ? dcg / idcg : dcg
    }

    static func averagePrecision(grades: [Int], relevantCount: Int) -> Double {
        guard relevantCount > 0 else { return 0 }
        var found = 0
        var sum = 0.0
        for (i, grade) in grades.enumerated() where grade >= relevanceLevel {
            found += 1
            sum += Double(found) / Double(i + 1)
        }
        return sum / Double(relevantCount)
    }

    static func reciprocalRank(grades: [Int]) -> Double {
        guard let first = grades.firstIndex(where: { $0 >= relevanceLevel }) else { return 0 }
        return 1 / Double(first + 1)
    }
}
