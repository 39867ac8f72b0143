import Foundation
import Testing
@testable import Synthesis

@Suite struct DedupAndSelectionTests {
    /// The MinHash estimate must track the exact Jaccard of the shingle sets;
    /// with 256 slots its standard error is at most 0.5 / 16.
    static let minhashTolerance = 0.1

    @Test func minhashEstimatesJaccard() {
        let minhash = MinHash(permutations: 256, shingleSize: 3)
        let base = "the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence near the river"
        let variants = [
            base,
            base.replacingOccurrences(of: "lazy dog", with: "sleepy cat"),
            base + " and then everyone goes home for a long dinner with friends and family",
            "completely different words about databases indexes and query planners choosing join orders",
        ]
        for v in variants {
            let exact = MinHash.exactJaccard(minhash.shingles(base), minhash.shingles(v))
            let estimate = MinHash.estimatedJaccard(minhash.signature(base), minhash.signature(v))
            #expect(abs(exact - estimate) <= Self.minhashTolerance, "exact \(exact) estimate \(estimate)")
        }
        #expect(MinHash.estimatedJaccard(minhash.signature(base), minhash.signature(base)) == 1)
        // Case and punctuation do not matter.
        #expect(MinHash.estimatedJaccard(minhash.signature(base), minhash.signature(base.uppercased() + "!!")) == 1)
    }

    @Test func signaturesAreStableAcrossInstances() {
        #expect(MinHash().signature("same text in two runs") == MinHash().signature("same text in two runs"))
    }

    @Test func nearDuplicatesRemovedKeepingTheEarlier() {
        let queries = [
            "why does my sourdough bread collapse in the oven after rising well overnight",
            "how do tides depend on the phase of the moon and the shape of the coast",
            "Why does my sourdough bread collapse in the oven after rising well overnight?",
            "which join order does a cost based planner choose for three tables",
            "tides: how do they depend on the moon",
        ]
        let positives = ["p one about gluten and acid", "p two about gravity", "p three about fermentation timing", "p four about cardinality", "p five about resonance"]
        let embedder = HashingEmbedder()
        let embeddings = queries.map(embedder.vector)
        let filter = NearDuplicateFilter(minhashThreshold: 0.6, embeddingThreshold: 0.95)
        let (kept, removed) = filter.filter(queries: queries, positives: positives, embeddings: embeddings)
        #expect(kept == [0, 1, 3, 4])
        #expect(removed.count == 1)
        #expect(removed[0].position == 2 && removed[0].duplicateOf == 0)
        #expect(removed[0].code == "near-duplicate-query-minhash")
    }

    @Test func duplicatePositivesAndEmbeddingsAreCaught() {
        let passage = "A feedback loop is usually responsible for the gradual worsening because each change alters the conditions that produced it"
        let filter = NearDuplicateFilter(minhashThreshold: 0.6, embeddingThreshold: 0.9)
        let byPositive = filter.filter(queries: ["first question about soil", "another question about rivers"], positives: [passage, passage], embeddings: [])
        #expect(byPositive.removed.map(\.code) == ["near-duplicate-positive-minhash"])
        // Same words in another order: shingles differ, embeddings agree.
        let a = "soil moisture drainage clay compaction roots"
        let b = "roots compaction clay drainage moisture soil"
        let embedder = HashingEmbedder()
        let byEmbedding = NearDuplicateFilter(minhashThreshold: 0.6, embeddingThreshold: 0.5)
            .filter(queries: [a, b], positives: ["x y z", "u v w"], embeddings: [embedder.vector(a), embedder.vector(b)])
        #expect(byEmbedding.removed.map(\.code) == ["near-duplicate-query-embedding"])
    }

    @Test func selectionCoversDomainsThenSpreads() {
        // Domain A has five near-identical points and one outlier; B and C one each.
        let e: [[Float]] = [[1, 0, 0], [0.99, 0.1, 0], [0.98, 0.12, 0], [0, 0, 1], [0.97, 0.1, 0], [0, 1, 0], [0.7, 0.7, 0]]
        let d = ["A", "A", "A", "A", "A", "B", "C"]
        let chosen = DiversitySelector.select(target: 4, embeddings: e, domains: d)
        #expect(chosen.count == 4)
        #expect(Set(chosen.map { d[$0] }) == ["A", "B", "C"])
        // The second A is the outlier, not a near copy of the first.
        #expect(chosen.filter { d[$0] == "A" } == [0, 3])
        #expect(DiversitySelector.select(target: 10, embeddings: e, domains: d) == Array(0..<7))
        #expect(DiversitySelector.select(target: 4, embeddings: e, domains: d) == chosen)
    }

    @Test func farthestPointOnOneDomain() {
        // Points on a line: 0, 1, 2, ..., 10. Farthest-point from 0 takes 10, then 5.
        let e: [[Float]] = (0...10).map { x in
            let angle = Float(x) * 0.15
            return [cosf(angle), sinf(angle)]
        }
        let chosen = DiversitySelector.select(target: 3, embeddings: e, domains: Array(repeating: "x", count: 11))
        #expect(chosen == [0, 10, 5])
    }

    @Test func qualityChecks() {
        var settings = SynthesisConfiguration()
        settings.passageWords = .init(min: 5, max: 50)
        let filter = QualityFilter(settings: settings)
        #expect(filter.checkQuery("too short")?.code == "query-too-short")
        #expect(filter.checkQuery("Warum ist der Himmel über den Bergen am Abend so rot und nicht blau?")?.code == "query-not-english")
        #expect(filter.checkQuery("Почему небо вечером красное, а днём голубое над горами?")?.code == "query-not-english")
        #expect(filter.checkQuery("Why is the sky over the mountains red in the evening rather than blue?") == nil)
        let query = "why does my bread collapse in the oven after rising well"
        #expect(filter.checkRestatement(query: query, positive: "You asked why does my bread collapse in the oven after rising well. It is overproofing.")?.code == "positive-restates-query")
        #expect(filter.checkRestatement(query: query, positive: "Overproofed dough has exhausted its sugars and its gluten network is overstretched, so oven spring tears it.") == nil)
        #expect(filter.checkPassage(String(repeating: "word and ", count: 40), role: "negative")?.code == "negative-too-long")
        #expect(filter.checkNegativeOverlap(query: query, negative: "Wheat is grown on every continent except Antarctica.")?.code == "negative-off-topic")
        #expect(filter.checkNegativeOverlap(query: query, negative: "Bread ovens differ in how evenly they heat the loaf.") == nil)
        #expect(QualityFilter.contentWordOverlap(of: "bread oven rising", in: "the bread and the oven") == 2.0 / 3.0)
    }
}
