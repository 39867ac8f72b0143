import Datasets
import LanguageModels
import Foundation

/// Pairwise Ranking Prompting (Qin et al.): the model compares two passages at
/// a time. Each pair is asked in both orders and the two answers averaged,
/// which cancels the position bias of the model.
public struct PairwiseReranker: Reranker {
    public enum Variant: Sendable, Hashable {
        /// Every pair once (in both orders): score = expected wins. O(n²) calls.
        case allPairs
        /// PRP-Sliding-K: K bubble-sort passes from the bottom of the list
        /// upwards, enough to sort the top K. O(K·n) calls.
        case slidingWindow(topK: Int)
    }

    public var model: any LanguageModel
    public var template: PromptTemplate
    public var maxPassageTokens: Int
    public var variant: Variant
    /// Requests of one query in flight at once: the pairs of `allPairs`, and
    /// the two orders of each comparison (sliding passes depend on the
    /// previous comparison, so they stay in order). 1 in process.
    public var concurrency: Int = 1

    public var name: String { "prp" }

    public static let defaultTemplate = try! PromptTemplate(
        id: "prp", version: 1, system: "",
        user: """
        Given a query "{query}", which of the following two passages is more relevant to the query?

        Passage A: "{passage_a}"

        Passage B: "{passage_b}"

        Output Passage A or Passage B:
        """,
        required: ["query", "passage_a", "passage_b"])

    public init(model: any LanguageModel, variant: Variant = .slidingWindow(topK: 10),
                template: PromptTemplate = PairwiseReranker.defaultTemplate, maxPassageTokens: Int = 200) {
        self.model = model
        self.variant = variant
        self.template = template
        self.maxPassageTokens = maxPassageTokens
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        var truncated: [String] = []
        for document in candidates {
            truncated.append(try await model.truncate(document.contents, maxTokens: maxPassageTokens))
        }
        let passages = truncated
        let prefer: @Sendable (Int, Int) async throws -> Double = { a, b in
            try await preference(query: query, passages[a], over: passages[b])
        }
        switch variant {
        case .allPairs:
            // Every pair is independent: ask them all first (concurrently when
            // allowed), then aggregate from the table in the usual order.
            let count = candidates.count
            let pairs = (0..<count).flatMap { a in ((a + 1)..<max(a + 1, count)).map { (a, $0) } }
            let asked = try await boundedMap(count: pairs.count, limit: max(1, concurrency)) { try await prefer(pairs[$0].0, pairs[$0].1) }
            let table = Dictionary(uniqueKeysWithValues: zip(pairs.map { $0.0 * count + $0.1 }, asked))
            let scores = try await PairwiseAggregation.allPairs(count: count) { a, b in table[a * count + b]! }
            return RankedResults(query: query, results: rankByScore(scores, candidates: candidates))
        case .slidingWindow(let topK):
            guard topK > 0 else {
                throw RerankingError.invalidParameter(name: "topK", reason: "must be at least 1, got \(topK)")
            }
            let order = try await PairwiseAggregation.slidingWindow(count: candidates.count, passes: topK, preference: prefer)
            let results = order.enumerated().map { position, index in
                RerankResult(index: index, documentID: candidates[index].id, score: Double(order.count - position))
            }
            return RankedResults(query: query, results: results)
        }
    }

    /// P(a is more relevant than b), averaged over both presentation orders.
    func preference(query: Query, _ a: String, over b: String) async throws -> Double {
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        if concurrency > 1 {
            async let first = chooseA(query: queryText, a, b)
            async let second = chooseA(query: queryText, b, a)
            return try await 0.5 * (first + (1 - second))
        }
        let first = try await chooseA(query: queryText, a, b)
        let second = try await chooseA(query: queryText, b, a)
        return 0.5 * (first + (1 - second))
    }

    private func chooseA(query: String, _ a: String, _ b: String) async throws -> Double {
        let messages = template.render(["query": query, "passage_a": a, "passage_b": b])
        let lp = try await model.nextTokenLogProbabilities(for: messages, assistantPrefix: "Passage", candidates: [" A", " B"])
        return try pairProbability(lp[0], lp[1], model: model.identifier)
    }
}

/// The schedulers behind PRP, as pure functions of a preference oracle so
/// they can be tested on orders that are known.
public enum PairwiseAggregation {
    /// Expected number of wins of each item; each unordered pair is asked once
    /// since preference(b, a) = 1 - preference(a, b) by construction.
    public static func allPairs(count: Int, preference: (Int, Int) async throws -> Double) async throws -> [Double] {
        var wins = [Double](repeating: 0, count: count)
        for a in 0..<count {
            for b in (a + 1)..<max(a + 1, count) {
                let p = try await preference(a, b)
                wins[a] += p
                wins[b] += 1 - p
            }
        }
        return wins
    }

    /// Returns the indices in their new order. Each pass carries the best
    /// remaining item from the bottom to position `pass`, like bubble sort.
    public static func slidingWindow(count: Int, passes: Int, preference: (Int, Int) async throws -> Double) async throws -> [Int] {
        var order = Array(0..<count)
        guard count > 1 else { return order }
        for pass in 0..<min(passes, count - 1) {
            var i = count - 2
            while i >= pass {
                if try await preference(order[i + 1], order[i]) > 0.5 {
                    order.swapAt(i, i + 1)
                }
                i -= 1
            }
        }
        return order
    }
}
