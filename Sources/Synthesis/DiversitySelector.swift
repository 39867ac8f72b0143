/// Picks `target` examples that cover the domains evenly and spread over
/// embedding space: greedy farthest-point selection, restricted at each step
/// to the domains picked least so far. Ties go to the earlier position, so
/// the choice is deterministic.
public enum DiversitySelector {
    /// - Parameters:
    ///   - embeddings: (n, d) one vector per candidate, in priority order.
    ///   - domains: the domain of each candidate.
    /// - Returns: positions of the chosen candidates, in the order chosen.
    public static func select(target: Int, embeddings: [[Float]], domains: [String]) -> [Int] {
        let n = min(embeddings.count, domains.count)
        guard target > 0, n > 0 else { return [] }
        if target >= n { return Array(0..<n) }
        var chosen: [Int] = [0]
        var picked = [Bool](repeating: false, count: n)
        picked[0] = true
        var perDomain: [String: Int] = [domains[0]: 1]
        // Distance of each candidate to its nearest chosen one (1 - cosine).
        var nearest = (0..<n).map { 1 - Vectors.cosine(embeddings[$0], embeddings[0]) }
        while chosen.count < target {
            var fewest = Int.max
            for i in 0..<n where !picked[i] { fewest = min(fewest, perDomain[domains[i], default: 0]) }
            var best = -1
            var bestDistance = -Double.infinity
            for i in 0..<n where !picked[i] && perDomain[domains[i], default: 0] == fewest {
                if nearest[i] > bestDistance {
                    best = i
                    bestDistance = nearest[i]
                }
            }
            guard best >= 0 else { break }
            chosen.append(best)
            picked[best] = true
            perDomain[domains[best], default: 0] += 1
            for i in 0..<n where !picked[i] {
                nearest[i] = min(nearest[i], 1 - Vectors.cosine(embeddings[i], embeddings[best]))
            }
        }
        return chosen
    }
}
