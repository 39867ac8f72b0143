import Datasets
import Foundation
import LanguageModels
import Retrieval

/// `stats.json`'s `quality`: how usable the run's examples are as training
/// data, measured on the selected examples (accept rates on the items up to
/// the pool cutoff).
public struct QualityReport: Codable, Sendable, Hashable {
    /// Items up to the pool cutoff, and how many of them were accepted into the pool.
    public var itemsConsidered: Int
    public var itemsAccepted: Int
    public var acceptRate: Double
    /// Share of `itemsConsidered` per outcome: "accepted" and each item-level rejection code.
    public var rateByOutcome: [String: Double]
    /// Examples the figures below are measured on (the selected ones).
    public var examples: Int
    /// What the queries are searched in: the collection (corpus mode), or the
    /// distinct passages of the selected examples.
    public var retrievalCorpus: String
    public var retrievalDocuments: Int
    /// How BM25 and dense retrieval rank each query's own positive.
    public var bm25: RetrievalQuality
    public var dense: RetrievalQuality
    public var denseEmbedder: String
    /// Query length in words.
    public var queryWords: LengthStats
    /// Mean share of a query's distinct content terms (EnglishAnalyzer:
    /// stop words removed, Porter-stemmed) that occur in its positive.
    public var lexicalOverlap: Double
    /// Mean share of a query's word trigrams found verbatim in its positive.
    public var trigramContainment: Double
    public var diversity: Diversity
    /// Corpus mode with the round-trip filter: its scorer, k, and the items it dropped (code "round-trip-failed").
    public var roundTrip: RoundTrip? = nil

    public struct RoundTrip: Codable, Sendable, Hashable {
        public var scorer: String
        public var k: Int
        public var dropped: Int
    }

    public struct RetrievalQuality: Codable, Sendable, Hashable {
        /// Mean of 1/rank of the positive, 0 when it is below rank 10.
        public var mrrAt10: Double
        /// Share of queries whose positive is ranked first.
        public var rankedFirst: Double
        public var inTop10: Double
    }

    public struct LengthStats: Codable, Sendable, Hashable {
        public var mean: Double
        public var median: Double
        public var min: Int
        public var max: Int
    }

    public struct Diversity: Codable, Sendable, Hashable {
        /// Mean of 1 - cosine over all pairs of query embeddings.
        public var meanPairwiseQueryDistance: Double
        /// Distinct word bigrams over all bigrams of the queries (distinct-2).
        public var distinctBigrams: Double
        /// Distinct source documents (corpus mode) or distinct positives.
        public var distinctPositives: Int
    }

    // MARK: measures (pure, tested by hand)

    /// From 1-based ranks (nil: not in the top 10).
    public static func retrieval(ranks: [Int?]) -> RetrievalQuality {
        guard !ranks.isEmpty else { return RetrievalQuality(mrrAt10: 0, rankedFirst: 0, inTop10: 0) }
        let n = Double(ranks.count)
        let within = ranks.compactMap { $0 }.filter { $0 >= 1 && $0 <= 10 }
        return RetrievalQuality(
            mrrAt10: within.reduce(0) { $0 + 1 / Double($1) } / n,
            rankedFirst: Double(within.filter { $0 == 1 }.count) / n,
            inTop10: Double(within.count) / n)
    }

    public static func lengths(_ values: [Int]) -> LengthStats {
        guard !values.isEmpty else { return LengthStats(mean: 0, median: 0, min: 0, max: 0) }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        let median = sorted.count % 2 == 1 ? Double(sorted[mid]) : Double(sorted[mid - 1] + sorted[mid]) / 2
        return LengthStats(mean: Double(values.reduce(0, +)) / Double(values.count), median: median, min: sorted[0], max: sorted[sorted.count - 1])
    }

    public static func termOverlap(query: String, positive: String, analyzer: EnglishAnalyzer = EnglishAnalyzer()) -> Double {
        let q = Set(analyzer.terms(query))
        guard !q.isEmpty else { return 0 }
        return Double(q.intersection(analyzer.terms(positive)).count) / Double(q.count)
    }

    public static func distinctBigrams(_ texts: [String]) -> Double {
        var all = 0
        var distinct = Set<String>()
        for text in texts {
            let words = MinHash.words(text)
            guard words.count > 1 else { continue }
            for i in 1..<words.count {
                all += 1
                distinct.insert(words[i - 1] + " " + words[i])
            }
        }
        return all == 0 ? 0 : Double(distinct.count) / Double(all)
    }

    /// Over at most `limit` vectors, evenly spaced: all pairs of a 20K-query
    /// run would cost more than making the run.
    public static func meanPairwiseDistance(_ all: [[Float]], limit: Int = 2000) -> Double {
        let vectors = all.count <= limit ? all : (0..<limit).map { all[$0 * all.count / limit] }
        guard vectors.count > 1 else { return 0 }
        var sum = 0.0
        var pairs = 0
        for i in 0..<vectors.count {
            for j in (i + 1)..<vectors.count {
                sum += 1 - Vectors.cosine(vectors[i], vectors[j])
                pairs += 1
            }
        }
        return sum / Double(pairs)
    }

    // MARK: the report

    /// Measures `examples`. `itemRejections` are the item-level rejection
    /// codes of the items up to the pool cutoff; `accepted` the pool size.
    static func measure(examples: [SyntheticExample], accepted: Int, itemRejections: [String: Int],
                        corpus: SynthesisCorpus?, embedder: any TextEmbedder, settings: SynthesisConfiguration,
                        roundTrip: RoundTrip? = nil) async throws -> QualityReport {
        let considered = accepted + itemRejections.values.reduce(0, +)
        var rates: [String: Double] = [:]
        if considered > 0 {
            rates["accepted"] = Double(accepted) / Double(considered)
            for (code, count) in itemRejections { rates[code] = Double(count) / Double(considered) }
        }

        // Where to search: the collection, or the examples' own passages.
        let searchCorpus: SynthesisCorpus?
        var positiveIDs: [String] = []
        if let corpus {
            searchCorpus = corpus
            positiveIDs = examples.map { $0.positives.first?.documentID ?? "" }
        } else {
            var documents: [Document] = []
            for example in examples {
                for passage in example.positives + example.negatives {
                    documents.append(Document(id: passage.id, text: passage.text))
                }
                positiveIDs.append(example.positives.first?.id ?? "")
            }
            var local = settings
            // Passages without a word cannot be ranked; they are left out (and so is an empty set).
            local.corpusMinWords = 1
            if documents.contains(where: { !MinHash.words($0.contents).isEmpty }) {
                searchCorpus = try await SynthesisCorpus.prepare(
                    DocumentCollection(name: "selected passages", documents: documents, source: "examples"), embedder: embedder, settings: local)
            } else {
                searchCorpus = nil
            }
        }
        let queries = examples.map(\.query)
        let vectors = queries.isEmpty ? [] : try await embedder.embed(queries)
        var lexicalRanks: [Int?] = []
        var denseRanks: [Int?] = []
        for (k, query) in queries.enumerated() {
            guard let searchCorpus, let target = searchCorpus.position(of: positiveIDs[k]) else {
                lexicalRanks.append(nil)
                denseRanks.append(nil)
                continue
            }
            lexicalRanks.append(searchCorpus.bm25Ranking(query, topK: 10).firstIndex(of: target).map { $0 + 1 })
            denseRanks.append(searchCorpus.denseRanking(vectors[k], topK: 10).firstIndex(of: target).map { $0 + 1 })
        }
        let positives = examples.map { $0.positives.first?.text ?? "" }
        let analyzer = EnglishAnalyzer()
        let n = Double(max(1, examples.count))
        return QualityReport(
            itemsConsidered: considered, itemsAccepted: accepted,
            acceptRate: considered > 0 ? Double(accepted) / Double(considered) : 0, rateByOutcome: rates,
            examples: examples.count,
            retrievalCorpus: corpus?.name ?? "the selected examples' passages",
            retrievalDocuments: corpus?.documents.count ?? examples.reduce(0) { $0 + $1.positives.count + $1.negatives.count },
            bm25: retrieval(ranks: lexicalRanks), dense: retrieval(ranks: denseRanks), denseEmbedder: embedder.identifier,
            queryWords: lengths(queries.map { MinHash.words($0).count }),
            lexicalOverlap: zip(queries, positives).reduce(0) { $0 + termOverlap(query: $1.0, positive: $1.1, analyzer: analyzer) } / n,
            trigramContainment: zip(queries, positives).reduce(0) { $0 + QualityFilter.trigramContainment(of: $1.0, in: $1.1) } / n,
            diversity: Diversity(
                meanPairwiseQueryDistance: meanPairwiseDistance(vectors), distinctBigrams: distinctBigrams(queries),
                distinctPositives: Set(zip(positiveIDs, positives).map { corpus != nil ? $0.0 : $0.1 }).count),
            roundTrip: roundTrip)
    }
}
