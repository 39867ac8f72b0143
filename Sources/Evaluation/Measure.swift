/// The measures LimRank reports, each computed as trec_eval computes the
/// measure named by `trecName`.
public enum Measure: Sendable, Hashable, CustomStringConvertible {
    /// nDCG at a cutoff (`ndcg_cut_k`): gain = judged grade, discount log2(rank + 1).
    case ndcg(cutoff: Int)
    /// Mean average precision over all retrieved documents (`map`).
    case averagePrecision
    /// Reciprocal rank of the first relevant document (`recip_rank`), reported as MRR.
    case reciprocalRank
    /// Precision at a cutoff (`P_k`): relevant in the top k, divided by k.
    case precision(cutoff: Int)
    /// Recall at a cutoff (`recall_k`): relevant in the top k over all relevant.
    case recall(cutoff: Int)

    /// The name pytrec_eval and trec_eval use.
    public var trecName: String {
        switch self {
        case .ndcg(let k): "ndcg_cut_\(k)"
        case .averagePrecision: "map"
        case .reciprocalRank: "recip_rank"
        case .precision(let k): "P_\(k)"
        case .recall(let k): "recall_\(k)"
        }
    }

    /// The name in LimRank's output (`ndcg@10`, `map`, `mrr`, `p@10`, `recall@100`).
    public var description: String {
        switch self {
        case .ndcg(let k): "ndcg@\(k)"
        case .averagePrecision: "map"
        case .reciprocalRank: "mrr"
        case .precision(let k): "p@\(k)"
        case .recall(let k): "recall@\(k)"
        }
    }

    /// Parses either spelling (`ndcg@10` or `ndcg_cut_10`, `mrr` or `recip_rank`).
    public init?(_ name: String) {
        let lower = name.lowercased()
        func cutoff(_ prefixes: [String]) -> Int? {
            for prefix in prefixes where lower.hasPrefix(prefix) {
                if let k = Int(lower.dropFirst(prefix.count)), k > 0 { return k }
            }
            return nil
        }
        if lower == "map" { self = .averagePrecision }
        else if lower == "mrr" || lower == "recip_rank" { self = .reciprocalRank }
        else if let k = cutoff(["ndcg@", "ndcg_cut_", "ndcg_cut."]) { self = .ndcg(cutoff: k) }
        else if let k = cutoff(["p@", "p_", "p."]) { self = .precision(cutoff: k) }
        else if let k = cutoff(["recall@", "recall_", "recall."]) { self = .recall(cutoff: k) }
        else { return nil }
    }
}
