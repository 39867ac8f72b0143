import Datasets
import Dispatch
import Foundation
import Synchronization
import Tensor

/// Lucene's BM25 parameters; the defaults are Anserini's.
public struct BM25Parameters: Sendable, Hashable, Codable {
    public var k1: Double
    public var b: Double

    public init(k1: Double = 0.9, b: Double = 0.4) {
        self.k1 = k1
        self.b = b
    }
}

/// An inverted index scored exactly as Lucene's `BM25Similarity` (Lucene 8+,
/// as Anserini's `SearchCollection -bm25` uses it):
///
///     idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
///     score(t, d) = idf(t) - idf(t) / (1 + tf / (k1 * (1 - b + b * L(d) / avgdl)))
///                 = idf(t) * tf / (tf + k1 * (1 - b + b * L(d) / avgdl))
///     score(q, d) = sum over query terms t (repeats count again) of score(t, d)
///
/// with Lucene's collection statistics and roundings:
/// - N and avgdl count only documents with at least one term after analysis
///   (Lucene's `docCount` of the field; empty documents have no field);
/// - L(d) is the document's term count stored lossily in one byte
///   (`SmallFloat.intToByte4`) and decoded through `BM25Similarity`'s
///   256-entry table: exact below 40 terms, rounded down to 4 significant
///   bits above (100 terms read as 96);
/// - idf, avgdl and the per-norm factor are float32, computed in the order
///   `BM25Similarity` computes them.
/// Scores then agree with Lucene's to float32 rounding of the final sum
/// (Lucene sums a document's term scores in double, we in float; repeated
/// query terms multiply the term score here, the term weight in Lucene).
/// Tests/RetrievalTests/LuceneParityTests.swift holds this against Anserini.
///
/// Per-posting scores (`impacts`) are computed once and summed in `Float` at
/// query time.
///
/// Ranking ties are broken by document position in the collection given to
/// `build` (earlier first), as Lucene breaks them by index order, so runs
/// are deterministic.
public struct BM25Index: Sendable {
    public let parameters: BM25Parameters
    /// Document ids in build order; postings refer to positions in it.
    public let documentIDs: [String]
    /// Terms per document after analysis.
    let documentLengths: [UInt32]
    let vocabulary: TermTable
    /// Term id -> its postings `postingStarts[t] ..< postingStarts[t + 1]`.
    let postingStarts: [Int]
    /// Document positions, ascending within each term.
    let postingDocuments: [UInt32]
    let postingFrequencies: [UInt32]
    /// BM25 contribution of each posting.
    let impacts: [Float]
    let analyzer: EnglishAnalyzer

    public var documentCount: Int { documentIDs.count }
    public var termCount: Int { vocabulary.count }
    public var postingCount: Int { postingDocuments.count }
    public var averageDocumentLength: Double {
        documentLengths.isEmpty ? 0 : Double(documentLengths.reduce(0) { $0 + Int($1) }) / Double(documentLengths.count)
    }

    init(
        parameters: BM25Parameters, documentIDs: [String], documentLengths: [UInt32], vocabulary: TermTable,
        postingStarts: [Int], postingDocuments: [UInt32], postingFrequencies: [UInt32]
    ) {
        self.parameters = parameters
        self.documentIDs = documentIDs
        self.documentLengths = documentLengths
        self.vocabulary = vocabulary
        self.postingStarts = postingStarts
        self.postingDocuments = postingDocuments
        self.postingFrequencies = postingFrequencies
        self.analyzer = EnglishAnalyzer()
        self.impacts = Self.computeImpacts(
            parameters: parameters, documentLengths: documentLengths, postingStarts: postingStarts,
            postingDocuments: postingDocuments, postingFrequencies: postingFrequencies)
    }

    // MARK: - Building

    /// Analyzes and indexes `documents` (their `contents`: title, then text),
    /// in parallel over cores. `progress` receives (documents analyzed, total).
    public static func build(
        documents: [Document], parameters: BM25Parameters = .init(),
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) -> BM25Index {
        build(count: documents.count, parameters: parameters, progress: progress) { documents[$0].id } text: {
            documents[$0].contents
        }
    }

    /// Indexes `count` documents given by position; `id` and `text` are
    /// called concurrently from several threads.
    public static func build(
        count: Int, parameters: BM25Parameters = .init(),
        progress: (@Sendable (Int, Int) -> Void)? = nil,
        id: (Int) -> String, text: (Int) -> String
    ) -> BM25Index {
        let analyzer = EnglishAnalyzer()
        let chunkSize = 2048
        let chunkCount = (count + chunkSize - 1) / chunkSize
        let done = Atomic<Int>(0)

        // 1. Analyze chunks of documents in parallel, each into its own term table.
        var chunks = [AnalyzedChunk?](repeating: nil, count: chunkCount)
        chunks.withUnsafeMutableBufferPointer { slots in
            let out = UncheckedSendable(slots)
            withoutActuallyEscaping(text) { text in
                let textBox = UncheckedSendable(text)
                DispatchQueue.concurrentPerform(iterations: chunkCount) { c in
                    let range = (c * chunkSize)..<min(count, (c + 1) * chunkSize)
                    out.value[c] = AnalyzedChunk(range: range, analyzer: analyzer, text: textBox.value)
                    let finished = done.add(range.count, ordering: .relaxed).newValue
                    progress?(finished, count)
                }
            }
        }

        // 2. Merge vocabularies in chunk order (deterministic term ids).
        var vocabulary = TermTable(capacity: 1 << 16)
        var localToGlobal: [[Int32]] = []
        localToGlobal.reserveCapacity(chunkCount)
        for chunk in chunks {
            guard let chunk else { continue }
            var map = [Int32](repeating: 0, count: chunk.terms.count)
            for t in 0..<chunk.terms.count { map[t] = Int32(vocabulary.intern(chunk.terms.term(t))) }
            localToGlobal.append(map)
        }

        // 3. Document frequencies, then postings laid out by term in document order.
        var documentFrequency = [Int](repeating: 0, count: vocabulary.count)
        for (c, chunk) in chunks.enumerated() {
            guard let chunk else { continue }
            let map = localToGlobal[c]
            for t in chunk.postingTerms { documentFrequency[Int(map[Int(t)])] += 1 }
        }
        var postingStarts = [Int](repeating: 0, count: vocabulary.count + 1)
        for t in 0..<vocabulary.count { postingStarts[t + 1] = postingStarts[t] + documentFrequency[t] }
        let total = postingStarts[vocabulary.count]
        var cursor = Array(postingStarts.dropLast())
        var postingDocuments = [UInt32](repeating: 0, count: total)
        var postingFrequencies = [UInt32](repeating: 0, count: total)
        var documentLengths = [UInt32](repeating: 0, count: count)
        for (c, chunk) in chunks.enumerated() {
            guard let chunk else { continue }
            let map = localToGlobal[c]
            for (d, document) in chunk.range.enumerated() {
                documentLengths[document] = chunk.lengths[d]
                for p in chunk.documentStarts[d]..<chunk.documentStarts[d + 1] {
                    let t = Int(map[Int(chunk.postingTerms[p])])
                    postingDocuments[cursor[t]] = UInt32(document)
                    postingFrequencies[cursor[t]] = chunk.postingFrequencies[p]
                    cursor[t] += 1
                }
            }
        }
        chunks.removeAll()
        let ids = (0..<count).map(id)
        return BM25Index(
            parameters: parameters, documentIDs: ids, documentLengths: documentLengths, vocabulary: vocabulary,
            postingStarts: postingStarts, postingDocuments: postingDocuments, postingFrequencies: postingFrequencies)
    }

    static func computeImpacts(
        parameters: BM25Parameters, documentLengths: [UInt32], postingStarts: [Int],
        postingDocuments: [UInt32], postingFrequencies: [UInt32]
    ) -> [Float] {
        // Lucene's CollectionStatistics of the field: documents with no term have no field.
        var documentCount = 0, totalLength = 0
        for length in documentLengths where length > 0 {
            documentCount += 1
            totalLength += Int(length)
        }
        var impacts = [Float](repeating: 0, count: postingDocuments.count)
        guard documentCount > 0 else { return impacts }
        let n = Double(documentCount)
        let k1 = Float(parameters.k1), b = Float(parameters.b)
        let averageLength = Float(Double(totalLength) / n)
        // BM25Similarity.scorer's cache: 1 / (k1 * ((1 - b) + b * LENGTH_TABLE[norm] / avgdl)), in float.
        let normInverse = SmallFloat.lengthTable.map { length -> Float in
            let normalized: Float = b * length / averageLength
            return 1 / (k1 * ((1 - b) + normalized))
        }
        let documentNormInverse = documentLengths.map { normInverse[Int(SmallFloat.intToByte4(Int($0)))] }
        let termCount = postingStarts.count - 1
        impacts.withUnsafeMutableBufferPointer { out in
            let box = UncheckedSendable(out)
            Parallel.forEach(0..<termCount, chunks: 4 * Parallel.threadCount, minimumChunk: 4096) { terms in
                for t in terms {
                    let lo = postingStarts[t], hi = postingStarts[t + 1]
                    let df = Double(hi - lo)
                    let idf = Float(log(1 + (n - df + 0.5) / (df + 0.5)))
                    for p in lo..<hi {
                        // BM25Scorer.doScore: weight - weight / (1 + freq * normInverse).
                        let tf = Float(postingFrequencies[p])
                        let saturation: Float = 1 + tf * documentNormInverse[Int(postingDocuments[p])]
                        box.value[p] = idf - idf / saturation
                    }
                }
            }
        }
        return impacts
    }

    // MARK: - Searching

    /// The `topK` best documents for one query, best first. Documents that
    /// share no term with the query are not returned.
    public func search(_ query: String, topK: Int) -> [ScoredDocument] {
        var searcher = Searcher(index: self)
        return searcher.search(query, topK: topK)
    }

    /// Searches all `queries` in parallel over cores.
    public func search(_ queries: [Query], topK: Int) async -> Run {
        let tasks = max(1, min(queries.count, ProcessInfo.processInfo.activeProcessorCount))
        let results = await withTaskGroup(of: [(String, [ScoredDocument])].self) { group in
            for c in 0..<tasks {
                let lo = queries.count * c / tasks, hi = queries.count * (c + 1) / tasks
                group.addTask {
                    var searcher = Searcher(index: self)
                    return queries[lo..<hi].map { ($0.id, searcher.search($0.text, topK: topK)) }
                }
            }
            var all: [(String, [ScoredDocument])] = []
            for await part in group { all.append(contentsOf: part) }
            return all
        }
        var run = Run(tag: "bm25")
        for (id, ranking) in results { run[id] = ranking }
        return run
    }

    /// The BM25 score of `query` for each document at `positions` (build
    /// order), 0 where no query term occurs: what a first-stage search would
    /// give those documents, without ranking the collection. Terms are summed
    /// in the order `search` sums them, so the scores are `search`'s to the bit.
    public func scores(_ query: String, positions: [Int]) -> [Double] {
        var scratch = EnglishAnalyzer.Scratch()
        let terms = queryTerms(query, scratch: &scratch)
        return positions.map { position in
            precondition(position >= 0 && position < documentCount, "document position \(position) outside the index")
            var score: Float = 0
            for (term, count) in terms {
                // Postings are ascending by document: binary search for this one.
                var lo = postingStarts[term], hi = postingStarts[term + 1]
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if Int(postingDocuments[mid]) < position { lo = mid + 1 } else { hi = mid }
                }
                if lo < postingStarts[term + 1], Int(postingDocuments[lo]) == position { score += Float(count) * impacts[lo] }
            }
            return Double(score)
        }
    }

    /// The analyzed query as (term id, times it occurs), unknown terms dropped.
    func queryTerms(_ text: String, scratch: inout EnglishAnalyzer.Scratch) -> [(term: Int, count: Int)] {
        var ids: [Int] = []
        analyzer.forEachTerm(text, scratch: &scratch) { term in
            if let id = vocabulary.lookup(term) { ids.append(id) }
        }
        ids.sort()
        var out: [(term: Int, count: Int)] = []
        for id in ids {
            if let last = out.last, last.term == id {
                out[out.count - 1].count += 1
            } else {
                out.append((id, 1))
            }
        }
        return out
    }
}

/// Per-thread query state: a score accumulator over all documents, reset
/// after each query by walking the documents it touched.
struct Searcher {
    let index: BM25Index
    var scores: [Float]
    var touched: [UInt32] = []
    var scratch = EnglishAnalyzer.Scratch()

    init(index: BM25Index) {
        self.index = index
        scores = [Float](repeating: 0, count: index.documentCount)
    }

    mutating func search(_ text: String, topK: Int) -> [ScoredDocument] {
        let terms = index.queryTerms(text, scratch: &scratch)
        let hits = scoreTopK(terms: terms, topK: topK)
        return hits.map { ScoredDocument(id: index.documentIDs[Int($0.document)], score: Double($0.score)) }
    }

    /// Term-at-a-time accumulation, then a bounded heap. When the query's
    /// postings cover a good share of the collection (`dense`, by default
    /// when they exceed a quarter of it), tracking touched documents costs
    /// more than scanning the whole accumulator, so it is scanned instead.
    /// Both paths give identical results (the heap's order is total).
    mutating func scoreTopK(terms: [(term: Int, count: Int)], topK: Int, dense: Bool? = nil) -> [TopKHeap.Entry] {
        guard topK > 0 else { return [] }
        let starts = index.postingStarts
        let postings = terms.reduce(0) { $0 + starts[$1.term + 1] - starts[$1.term] }
        let scan = dense ?? (postings * 4 > index.documentCount)
        touched.removeAll(keepingCapacity: true)
        var heap = TopKHeap(capacity: topK)
        scores.withUnsafeMutableBufferPointer { acc in
            index.postingDocuments.withUnsafeBufferPointer { docs in
                index.impacts.withUnsafeBufferPointer { impacts in
                    for (term, count) in terms {
                        let weight = Float(count)
                        if scan {
                            for p in starts[term]..<starts[term + 1] {
                                acc[Int(docs[p])] += weight * impacts[p]
                            }
                        } else {
                            for p in starts[term]..<starts[term + 1] {
                                let d = Int(docs[p])
                                if acc[d] == 0 { touched.append(UInt32(d)) }
                                acc[d] += weight * impacts[p]
                            }
                        }
                    }
                }
            }
            if scan {
                for d in 0..<acc.count where acc[d] > 0 {
                    heap.offer(document: UInt32(d), score: acc[d])
                    acc[d] = 0
                }
            } else {
                for d in touched {
                    heap.offer(document: d, score: acc[Int(d)])
                    acc[Int(d)] = 0
                }
            }
        }
        return heap.sortedDescending()
    }
}

/// The analysis of a contiguous range of documents, with chunk-local term ids.
struct AnalyzedChunk {
    let range: Range<Int>
    var terms = TermTable(capacity: 4096)
    /// Document (relative to `range`) -> its postings in `postingTerms`.
    var documentStarts: [Int] = [0]
    var postingTerms: [Int32] = []
    var postingFrequencies: [UInt32] = []
    var lengths: [UInt32] = []

    init(range: Range<Int>, analyzer: EnglishAnalyzer, text: (Int) -> String) {
        self.range = range
        var scratch = EnglishAnalyzer.Scratch()
        var ids: [Int32] = []
        for document in range {
            ids.removeAll(keepingCapacity: true)
            analyzer.forEachTerm(text(document), scratch: &scratch) { term in
                ids.append(Int32(terms.intern(term)))
            }
            lengths.append(UInt32(ids.count))
            ids.sort()
            var i = 0
            while i < ids.count {
                var j = i + 1
                while j < ids.count && ids[j] == ids[i] { j += 1 }
                postingTerms.append(ids[i])
                postingFrequencies.append(UInt32(j - i))
                i = j
            }
            documentStarts.append(postingTerms.count)
        }
    }
}

