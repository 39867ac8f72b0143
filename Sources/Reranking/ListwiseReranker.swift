import Datasets
import LanguageModels
import Foundation

/// RankGPT-style listwise reranking: the model sees a window of numbered
/// passages and writes their order; the window slides from the bottom of the
/// list to the top so good passages can climb past window boundaries.
public struct ListwiseReranker: Reranker {
    public var model: any LanguageModel
    public var template: PromptTemplate
    public var windowSize: Int
    public var step: Int
    public var maxPassageTokens: Int
    public var maxOutputTokens: Int

    public var name: String { "listwise" }

    public static let defaultTemplate = try! PromptTemplate(
        id: "listwise-rankgpt", version: 1,
        system: "You are RankGPT, an intelligent assistant that ranks passages by their relevance to a query.",
        user: """
        I will provide you with {count} passages, each indicated by a numerical identifier [].
        Rank the passages based on their relevance to the search query: {query}

        {passages}

        Search Query: {query}
        Rank the {count} passages above based on their relevance to the search query. List all passages in descending order of relevance using their identifiers, in the format [2] > [1] > [3]. Only respond with the ranking, do not explain.
        """,
        required: ["count", "query", "passages"])

    public init(model: any LanguageModel, windowSize: Int = 20, step: Int = 10,
                template: PromptTemplate = ListwiseReranker.defaultTemplate,
                maxPassageTokens: Int = 100, maxOutputTokens: Int = 200) throws {
        guard windowSize >= 2 else {
            throw RerankingError.invalidParameter(name: "window", reason: "must be at least 2, got \(windowSize)")
        }
        guard step >= 1, step <= windowSize else {
            throw RerankingError.invalidParameter(name: "step", reason: "must be between 1 and the window size \(windowSize), got \(step)")
        }
        self.model = model
        self.windowSize = windowSize
        self.step = step
        self.template = template
        self.maxPassageTokens = maxPassageTokens
        self.maxOutputTokens = maxOutputTokens
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        try validate(query: query, candidates: candidates)
        var passages: [String] = []
        for document in candidates {
            passages.append(try await model.truncate(document.contents, maxTokens: maxPassageTokens))
        }
        let queryText = query.instruction.isEmpty ? query.text : query.text + " " + query.instruction
        var order = Array(candidates.indices)
        var warnings: [String] = []
        for window in SlidingWindows.windows(count: candidates.count, size: windowSize, step: step) {
            let members = Array(order[window])
            let listing = members.enumerated().map { "[\($0.offset + 1)] \(passages[$0.element])" }.joined(separator: "\n")
            let messages = template.render(["count": String(members.count), "query": queryText, "passages": listing])
            let answer = try await model.generate(GenerationRequest(messages: messages, maxTokens: maxOutputTokens))
            let parsed = PermutationParser.parse(answer, count: members.count)
            if parsed.missing > 0 || parsed.invalid > 0 {
                warnings.append("window \(window.lowerBound + 1)-\(window.upperBound): the answer ranked \(members.count - parsed.missing) of \(members.count) passages"
                                + (parsed.invalid > 0 ? " (\(parsed.invalid) invalid or repeated ids dropped)" : "")
                                + "; the rest kept their order below them")
            }
            order.replaceSubrange(window, with: parsed.permutation.map { members[$0] })
        }
        let results = order.enumerated().map { position, index in
            RerankResult(index: index, documentID: candidates[index].id, score: Double(order.count - position))
        }
        return RankedResults(query: query, results: results, warnings: warnings)
    }
}

public enum SlidingWindows {
    /// Windows over positions 0..<count from the bottom up: each is
    /// `size` long (shorter only at the top) and starts `step` above the last.
    public static func windows(count: Int, size: Int, step: Int) -> [Range<Int>] {
        guard count > 0 else { return [] }
        var ranges: [Range<Int>] = []
        var end = count
        while true {
            let start = max(0, end - size)
            ranges.append(start..<end)
            if start == 0 { break }
            end -= step
        }
        return ranges
    }
}

/// Reads a permutation such as "[3] > [1] > [2]" from free model output.
public enum PermutationParser {
    public struct Parsed: Sendable, Hashable {
        /// 0-based positions, every one of 0..<count exactly once.
        public var permutation: [Int]
        /// Identifiers that were out of range or repeated, and how many were missing.
        public var invalid: Int
        public var missing: Int
    }

    /// Numbers are taken in order of appearance; out-of-range and repeated ones
    /// are dropped, and the missing ones are appended in their original order,
    /// so the result is always a full permutation whatever the model wrote.
    public static func parse(_ text: String, count: Int) -> Parsed {
        var seen = [Bool](repeating: false, count: count)
        var permutation: [Int] = []
        var invalid = 0
        var digits = ""
        func flush() {
            guard !digits.isEmpty else { return }
            defer { digits = "" }
            guard let n = Int(digits), n >= 1, n <= count, !seen[n - 1] else { invalid += 1; return }
            seen[n - 1] = true
            permutation.append(n - 1)
        }
        for scalar in text.unicodeScalars {
            if ("0"..."9").contains(scalar) { digits.unicodeScalars.append(scalar) } else { flush() }
        }
        flush()
        let missing = (0..<count).filter { !seen[$0] }
        return Parsed(permutation: permutation + missing, invalid: invalid, missing: missing.count)
    }
}
