import Datasets

/// FollowIR's p-MRR (Weller et al., 2024): how a system's ranking reacts
/// when a query's instruction changes so that some documents stop being
/// relevant.
///
/// For each such document, with rank r_og in the run for the original
/// instruction and r_new in the run for the changed one (a document absent
/// from a run ranks one past its last candidate):
///
///     score = r_new / r_og - 1    if r_og >= r_new   (it moved up, or stayed: <= 0)
///     score = 1 - r_og / r_new    otherwise          (it moved down: > 0)
///
/// Scores are averaged per query, then over queries; the result lies in
/// [-1, 1] (FollowIR's tables show it times 100). Ranks are positions after a
/// stable sort by score, so ties keep the run's order, as in FollowIR's code.
public enum PairwiseMRR {
    /// The documents relevant (grade >= 1) under the original instruction but
    /// not under the changed one, per query.
    public static func changedDocuments(original: Qrels, changed: Qrels) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for query in original.queryIDs {
            let lost = original[query].filter { $0.value >= TrecEval.relevanceLevel && (changed[query][$0.key] ?? 0) < TrecEval.relevanceLevel }
            if !lost.isEmpty { result[query] = lost.keys.sorted() }
        }
        return result
    }

    public static func documentScore(originalRank: Int, changedRank: Int) -> Double {
        if originalRank >= changedRank {
            return Double(changedRank) / Double(originalRank) - 1
        }
        return 1 - Double(originalRank) / Double(changedRank)
    }

    /// 1-based rank of each candidate after a stable sort by descending score.
    static func ranks(_ candidates: [ScoredDocument]) -> [String: Int] {
        let order = candidates.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }
        var ranks: [String: Int] = [:]
        for (position, entry) in order.enumerated() where ranks[entry.element.id] == nil {
            ranks[entry.element.id] = position + 1
        }
        return ranks
    }

    /// Per-query p-MRR for the queries that have changed documents and appear
    /// in both runs (FollowIR skips the others).
    public static func perQuery(original: Run, changed: Run, changedDocuments: [String: [String]]) -> [String: Double] {
        var result: [String: Double] = [:]
        for (query, documents) in changedDocuments where !documents.isEmpty {
            guard let before = original.rankings[query], let after = changed.rankings[query] else { continue }
            let ranksBefore = ranks(before), ranksAfter = ranks(after)
            var sum = 0.0
            for document in documents {
                let r0 = ranksBefore[document] ?? ranksBefore.count + 1
                let r1 = ranksAfter[document] ?? ranksAfter.count + 1
                sum += documentScore(originalRank: r0, changedRank: r1)
            }
            result[query] = sum / Double(documents.count)
        }
        return result
    }

    /// The mean of `perQuery` (0 when no query qualifies).
    public static func score(original: Run, changed: Run, originalQrels: Qrels, changedQrels: Qrels) -> Double {
        let values = perQuery(original: original, changed: changed, changedDocuments: changedDocuments(original: originalQrels, changed: changedQrels))
        guard !values.isEmpty else { return 0 }
        return values.keys.sorted().reduce(0.0) { $0 + (values[$1] ?? 0) } / Double(values.count)
    }
}
