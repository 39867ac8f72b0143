/// Combines a reranker's scores with the first stage's, so that a reranker
/// adds to BM25 instead of replacing it. Both methods see only the candidates
/// the reranker scored (the top `depth` of a run).
public enum ScoreFusion: Sendable, Hashable, CustomStringConvertible {
    /// `lambda * rerank + (1 - lambda) * firstStage`, each min-max normalised
    /// to [0, 1] per query (ranx's "min-max" + weighted sum). `lambda` is the
    /// reranker's weight: 1 is the reranker alone, 0 the first stage alone.
    /// A query whose scores of one side are all equal (or a single candidate)
    /// normalises that side to 0 everywhere: it cannot separate the
    /// candidates, so the other side decides.
    case interpolate(lambda: Double)
    /// Reciprocal rank fusion (Cormack et al. 2009):
    /// `1 / (k + firstStageRank) + 1 / (k + rerankRank)`, ranks from 1;
    /// only the orders count, not the score values.
    case reciprocalRank(k: Double)

    /// Parses `interpolate:LAMBDA` (0 <= LAMBDA <= 1) or `rrf:K` (K >= 0).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
            throw RerankingError.invalidParameter(name: "fusion", reason: "expected interpolate:LAMBDA or rrf:K, got \"\(text)\"")
        }
        switch parts[0].lowercased() {
        case "interpolate":
            guard (0...1).contains(value) else {
                throw RerankingError.invalidParameter(name: "fusion", reason: "interpolate's LAMBDA (the reranker's weight) must lie in [0, 1], got \(parts[1])")
            }
            self = .interpolate(lambda: value)
        case "rrf":
            guard value >= 0 else {
                throw RerankingError.invalidParameter(name: "fusion", reason: "rrf's K must be >= 0, got \(parts[1])")
            }
            self = .reciprocalRank(k: value)
        default:
            throw RerankingError.invalidParameter(name: "fusion", reason: "unknown method \"\(parts[0])\" (interpolate:LAMBDA or rrf:K)")
        }
    }

    /// The spelling `init(parsing:)` reads, also written into run tags and cache keys.
    public var description: String {
        switch self {
        case .interpolate(let lambda): "interpolate:\(lambda)"
        case .reciprocalRank(let k): "rrf:\(k)"
        }
    }

    /// Fused scores, higher is better; `firstStage[i]` and `rerank[i]` score
    /// candidate i. RRF ranks each side by descending score, ties in index
    /// order (a run's candidates arrive best first, so index order is the
    /// first stage's own tie order).
    public func fuse(firstStage: [Double], rerank: [Double]) -> [Double] {
        precondition(firstStage.count == rerank.count, "one first-stage and one reranker score per candidate")
        switch self {
        case .interpolate(let lambda):
            let a = Self.minMax(rerank), b = Self.minMax(firstStage)
            return zip(a, b).map { lambda * $0 + (1 - lambda) * $1 }
        case .reciprocalRank(let k):
            return Self.reciprocalRank(k: k, firstStageRanks: Self.ranks(firstStage), rerankRanks: Self.ranks(rerank))
        }
    }

    /// Fuses a reranker's results with the first-stage scores of the same
    /// candidates (`firstStage[result.index]`), best first. RRF takes the
    /// reranker's rank from the results' order (a listwise or PRP ranking is
    /// an order first and a score second). Ties of the fused score go to the
    /// reranker's order.
    public func fuse(_ results: [RerankResult], firstStage: [Double]) -> [RerankResult] {
        precondition(results.count == firstStage.count, "one first-stage score per result")
        var rerank = [Double](repeating: 0, count: firstStage.count)
        var rerankPosition = [Int](repeating: 0, count: firstStage.count)
        for (position, result) in results.enumerated() {
            rerank[result.index] = result.score
            rerankPosition[result.index] = position
        }
        let fused: [Double]
        switch self {
        case .interpolate: fused = fuse(firstStage: firstStage, rerank: rerank)
        case .reciprocalRank(let k):
            fused = Self.reciprocalRank(k: k, firstStageRanks: Self.ranks(firstStage), rerankRanks: rerankPosition.map { $0 + 1 })
        }
        return results.sorted { a, b in
            fused[a.index] != fused[b.index] ? fused[a.index] > fused[b.index] : rerankPosition[a.index] < rerankPosition[b.index]
        }.map { RerankResult(index: $0.index, documentID: $0.documentID, score: fused[$0.index]) }
    }

    static func reciprocalRank(k: Double, firstStageRanks: [Int], rerankRanks: [Int]) -> [Double] {
        zip(firstStageRanks, rerankRanks).map { 1 / (k + Double($0)) + 1 / (k + Double($1)) }
    }

    /// 1-based rank of each index by descending score, ties in index order.
    static func ranks(_ scores: [Double]) -> [Int] {
        var ranks = [Int](repeating: 0, count: scores.count)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        for (position, index) in order.enumerated() { ranks[index] = position + 1 }
        return ranks
    }

    static func minMax(_ scores: [Double]) -> [Double] {
        guard let low = scores.min(), let high = scores.max(), high > low else { return scores.map { _ in 0 } }
        return scores.map { ($0 - low) / (high - low) }
    }
}
