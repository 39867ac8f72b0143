import Foundation
import Testing
import Datasets
@testable import Reranking

let query = Query(id: "q1", text: "what lift does a swept wing give?")
let grades = [0, 3, 1, 4, 0, 2, 1, 3, 0, 2, 4, 1]

@Test func pointwiseRanksByProbabilityOfTrue() async throws {
    let reranker = PointwiseLLMReranker(model: OracleModel())
    let ranked = try await reranker.rerank(query: query, candidates: gradedCandidates(grades))
    #expect(ranked.results.map(\.documentID) == idealOrder(grades))
    // Scores are probabilities, decreasing.
    #expect(ranked.results.allSatisfy { $0.score > 0 && $0.score < 1 })
    #expect(zip(ranked.results, ranked.results.dropFirst()).allSatisfy { $0.score >= $1.score })
}

@Test func prpAllPairsCancelsPositionBias() async throws {
    // A bias of 5 logits toward "Passage A" would win every single-order comparison.
    let reranker = PairwiseReranker(model: OracleModel(positionBias: 5), variant: .allPairs)
    let ranked = try await reranker.rerank(query: query, candidates: gradedCandidates(grades))
    #expect(ranked.results.map(\.documentID) == idealOrder(grades))
}

@Test func prpSlidingWindowSortsTopK() async throws {
    let k = 4
    let reranker = PairwiseReranker(model: OracleModel(positionBias: 2), variant: .slidingWindow(topK: k))
    let ranked = try await reranker.rerank(query: query, candidates: gradedCandidates(grades))
    let got = ranked.results.map(\.documentID)
    #expect(Array(got.prefix(k)) == Array(idealOrder(grades).prefix(k)))
    #expect(Set(got) == Set(gradedCandidates(grades).map(\.id)))
}

@Test func slidingWindowAggregationNeedsOnlyKPasses() async throws {
    var calls = 0
    let order = try await PairwiseAggregation.slidingWindow(count: 10, passes: 2) { a, b in
        calls += 1
        return a > b ? 1 : 0   // larger index is better
    }
    #expect(Array(order.prefix(2)) == [9, 8])
    #expect(calls == 9 + 8)
}

@Test func listwiseSlidingWindowSortsAcrossWindows() async throws {
    let reranker = try ListwiseReranker(model: OracleModel(), windowSize: 4, step: 2)
    let ranked = try await reranker.rerank(query: query, candidates: gradedCandidates(grades))
    // Windows of 4 moving up by 2 over 12: 8..<12, 6..<10, 4..<8, 2..<6, 0..<4.
    // Each carries its best two up into the next, so the last call sorts
    // d0 and d1 (untouched until then, grades 0 and 3) with the two best of
    // d2...d11 (d3 and d10, grade 4): the first window is fully sorted.
    let got = ranked.results.map(\.documentID)
    let grade = Dictionary(uniqueKeysWithValues: grades.enumerated().map { ("d\($0.offset)", $0.element) })
    #expect(got.prefix(4).map { grade[$0] ?? -1 } == [4, 4, 3, 0])
    #expect(Set(got.prefix(4)) == ["d0", "d1", "d3", "d10"])
    #expect(got.count == grades.count && Set(got) == Set(idealOrder(grades)))
}

@Test func listwiseRepairsBrokenPermutations() async throws {
    let reranker = try ListwiseReranker(model: OracleModel(listwiseNoise: true), windowSize: 20, step: 10)
    let ranked = try await reranker.rerank(query: query, candidates: gradedCandidates(grades))
    #expect(ranked.results.count == grades.count)
    #expect(Set(ranked.results.map(\.documentID)).count == grades.count)
    // The repair is reported, not silent: one passage left out, a repeat and an invented id dropped.
    #expect(ranked.warnings.count == 1)
    #expect(ranked.warnings.first?.contains("ranked \(grades.count - 1) of \(grades.count) passages (2 invalid or repeated ids dropped)") == true)
    // A clean answer reports nothing.
    let clean = try await ListwiseReranker(model: OracleModel(), windowSize: 20, step: 10).rerank(query: query, candidates: gradedCandidates(grades))
    #expect(clean.warnings.isEmpty)
}

@Test func permutationParserRepairs() {
    let p = PermutationParser.parse("Ranking: [3] > [1] > [3] > [7] > [0]", count: 4)
    #expect(p.permutation == [2, 0, 1, 3])
    #expect(p.invalid == 3)
    #expect(p.missing == 2)
    #expect(PermutationParser.parse("", count: 3).permutation == [0, 1, 2])
    #expect(PermutationParser.parse("2 > 1", count: 0).permutation == [])
}

@Test func windowsCoverFromTheBottomUp() {
    #expect(SlidingWindows.windows(count: 100, size: 20, step: 10).first == 80..<100)
    #expect(SlidingWindows.windows(count: 100, size: 20, step: 10).last == 0..<20)
    #expect(SlidingWindows.windows(count: 100, size: 20, step: 10).count == 9)
    #expect(SlidingWindows.windows(count: 5, size: 20, step: 10) == [0..<5])
    #expect(SlidingWindows.windows(count: 0, size: 20, step: 10) == [])
}

@Test func contractViolationsAreErrors() async throws {
    let reranker = PointwiseLLMReranker(model: OracleModel())
    let dup = [Document(id: "a", text: "grade=1"), Document(id: "a", text: "grade=2")]
    await #expect(throws: RerankingError.duplicateDocument(queryID: "q1", documentID: "a")) {
        try await reranker.rerank(query: query, candidates: dup)
    }
    await #expect(throws: RerankingError.emptyQuery(queryID: "q2")) {
        try await reranker.rerank(query: Query(id: "q2", text: "  "), candidates: dup)
    }
    let empty = try await reranker.rerank(query: query, candidates: [])
    #expect(empty.results.isEmpty)
    #expect(throws: RerankingError.self) { try ListwiseReranker(model: OracleModel(), windowSize: 4, step: 5) }
}

@Test func runRerankerKeepsTheTailAndItsLength() async throws {
    let docs = gradedCandidates(grades)
    let byID = Dictionary(uniqueKeysWithValues: docs.map { ($0.id, $0) })
    var run = Run()
    run["q1"] = docs.enumerated().map { ScoredDocument(id: $0.element.id, score: Double(100 - $0.offset)) }
    let driver = RunReranker(reranker: PointwiseLLMReranker(model: OracleModel()), depth: 5)
    let out = try await driver.rerank(run: run, queries: [query], documents: byID)
    let ranking = out["q1"]
    #expect(ranking.count == docs.count)
    #expect(ranking.prefix(5).map(\.id) == idealOrder(Array(grades.prefix(5))))
    #expect(ranking.dropFirst(5).map(\.id) == docs.dropFirst(5).map(\.id))
    #expect(zip(ranking, ranking.dropFirst()).allSatisfy { $0.score > $1.score })

    var bad = run
    bad["q1"].append(ScoredDocument(id: "ghost", score: 0))
    let deep = RunReranker(reranker: PointwiseLLMReranker(model: OracleModel()), depth: 100)
    await #expect(throws: RerankingError.unknownDocument(queryID: "q1", documentID: "ghost")) {
        try await deep.rerank(run: bad, queries: [query], documents: byID)
    }
}

@Test func templatesValidatePlaceholders() throws {
    #expect(throws: RerankingError.self) {
        try PromptTemplate(id: "t", version: 1, system: "", user: "Query: {query}", required: ["query", "passage"])
    }
    #expect(throws: RerankingError.self) {
        try PromptTemplate(id: "t", version: 1, system: "", user: "{query} {pasage} {passage}", required: ["query", "passage"])
    }
    let t = try PromptTemplate(id: "t", version: 2, system: "", user: "Q: {query} P: {passage}", required: ["query", "passage"])
    // A value that itself looks like a placeholder is not expanded again.
    #expect(t.render(["query": "{passage}", "passage": "x"]).last?.content == "Q: {passage} P: x")
    #expect(t.versionTag == "t@v2")
}

/// Counts calls so a test can tell a cache hit from a recomputation.
actor CallCounter { var calls = 0; func bump() { calls += 1 } }

struct CountingReranker: Reranker {
    let counter: CallCounter
    var name: String { "counting" }
    func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        await counter.bump()
        return try await PointwiseLLMReranker(model: OracleModel()).rerank(query: query, candidates: candidates)
    }
}

@Test func cachedRankingsSurviveARestartAndTornLines() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-cache-\(UInt64.random(in: 0...UInt64.max))")
    let file = dir.appendingPathComponent("rankings.jsonl")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counter = CallCounter()
    let docs = gradedCandidates(grades)
    let first = CachedReranker(base: CountingReranker(counter: counter), fingerprint: "oracle@v1", store: try RankingCache(url: file))
    let a = try await first.rerank(query: query, candidates: docs)
    _ = try await first.rerank(query: query, candidates: docs)
    #expect(await counter.calls == 1)

    // A torn write at the end of the file must not lose the good entries.
    let h = try FileHandle(forWritingTo: file)
    try h.seekToEnd(); try h.write(contentsOf: Data("{\"key\":\"tor".utf8)); try h.close()
    let reopened = CachedReranker(base: CountingReranker(counter: counter), fingerprint: "oracle@v1", store: try RankingCache(url: file))
    let b = try await reopened.rerank(query: query, candidates: docs)
    #expect(await counter.calls == 1)
    #expect(a == b)

    // Another fingerprint, another query text or other contents are misses.
    let other = CachedReranker(base: CountingReranker(counter: counter), fingerprint: "oracle@v2", store: try RankingCache(url: file))
    _ = try await other.rerank(query: query, candidates: docs)
    var edited = docs; edited[0].text += " more"
    _ = try await reopened.rerank(query: query, candidates: edited)
    #expect(await counter.calls == 3)
}
