import ArgumentParser
import Datasets
import Foundation
import Retrieval

/// BM25 parameters and where the index comes from; shared by `retrieve` and `eval`.
struct BM25Options: ParsableArguments {
    @Option(help: ArgumentHelp("A saved index directory from `limrank index`; without it the index is built in memory.", valueName: "dir"))
    var index: String?

    @Option(help: "BM25 term-frequency saturation k1 (Anserini's default 0.9). Fixed at index time: not with --index.")
    var k1: Double?

    @Option(help: "BM25 length normalisation b in [0, 1] (Anserini's default 0.4). Fixed at index time: not with --index.")
    var b: Double?

    func validate() throws {
        if index != nil, k1 != nil || b != nil {
            throw ValidationError("--k1/--b are fixed when the index is built; rebuild with `limrank index --k1 ... --b ...` instead of combining them with --index")
        }
        try BM25Options.check(k1: k1, b: b)
    }

    static func check(k1: Double?, b: Double?) throws {
        if let k1, !(k1.isFinite && k1 >= 0) { throw ValidationError("--k1 must be a finite number >= 0") }
        if let b, !(b >= 0 && b <= 1) { throw ValidationError("--b must be between 0 and 1") }
    }

    var parameters: BM25Parameters { BM25Parameters(k1: k1 ?? 0.9, b: b ?? 0.4) }

    /// Loads the saved index (checking it was built from this collection) or builds one.
    func index(for collection: TestCollection) throws -> BM25Index {
        if let index {
            let file = IndexLocation.file(in: index)
            Log.write("loading \(file.path)")
            let loaded = try BM25Index.load(from: file)
            guard loaded.documentIDs == collection.documents.map(\.id) else {
                throw ValidationError("\(file.path) was built from a different collection (\(loaded.documentCount) documents, this one has \(collection.documents.count)); rebuild it with `limrank index`")
            }
            return loaded
        }
        return IndexLocation.build(collection, parameters: parameters)
    }
}

enum IndexLocation {
    /// `limrank index --index-out DIR` writes DIR/bm25.index.
    static func file(in directory: String) -> URL {
        URL(fileURLWithPath: directory).appendingPathComponent("bm25.index")
    }

    static func build(_ collection: TestCollection, parameters: BM25Parameters) -> BM25Index {
        let start = Date()
        let index = BM25Index.build(documents: collection.documents, parameters: parameters) { done, total in
            Log.write("indexing: \(done)/\(total) documents")
        }
        Log.write(String(format: "indexed %d documents (%d terms) in %.2f s, k1 = %g, b = %g",
                         index.documentCount, index.termCount, Date().timeIntervalSince(start), parameters.k1, parameters.b))
        return index
    }
}

/// How `retrieve` and `eval` turn a collection's queries into runs.
enum BM25Runs {
    /// A FollowIR run holds both instructions' rankings, told apart by these
    /// query-id suffixes (the convention of FollowIR's MTEB evaluation).
    static let originalSuffix = "-og"
    static let changedSuffix = "-changed"

    /// Retrieves `topK` documents for every query. The query text is the
    /// query followed by its instruction, if any (FollowIR's BM25 baseline).
    /// BRIGHT's excluded documents are removed and the gap refilled, so
    /// each query still gets `topK` candidates.
    static func run(_ index: BM25Index, collection: TestCollection, topK: Int) async -> Run {
        let start = Date()
        var run = await search(index, queries: collection.queries, excluded: collection.excludedDocuments, topK: topK)
        if let change = collection.instructionChange {
            let changed = await search(index, queries: change.queries, excluded: [:], topK: topK)
            var combined = Run(tag: run.tag)
            for (id, ranking) in run.rankings { combined[id + originalSuffix] = ranking }
            for (id, ranking) in changed.rankings { combined[id + changedSuffix] = ranking }
            run = combined
        }
        Log.write(String(format: "retrieved top %d for %d queries in %.2f s", topK, run.rankings.count, Date().timeIntervalSince(start)))
        return run
    }

    private static func search(_ index: BM25Index, queries: [Query], excluded: [String: Set<String>], topK: Int) async -> Run {
        let withInstructions = queries.map {
            Query(id: $0.id, text: $0.instruction.isEmpty ? $0.text : $0.text + " " + $0.instruction)
        }
        let extra = excluded.values.map(\.count).max() ?? 0
        var run = await index.search(withInstructions, topK: topK + extra)
        for (id, ranking) in run.rankings {
            let kept = excluded[id].map { drop in ranking.filter { !drop.contains($0.id) } } ?? ranking
            run[id] = Array(kept.prefix(topK))
        }
        return run
    }

    /// The query ids a run of this collection may name.
    static func runQueryIDs(_ collection: TestCollection) -> Set<String> {
        guard collection.instructionChange != nil else { return collection.queryIDs }
        return Set(collection.queries.flatMap { [$0.id + originalSuffix, $0.id + changedSuffix] })
    }

    /// Splits a FollowIR run into its original- and changed-instruction halves.
    static func split(_ run: Run) -> (original: Run, changed: Run) {
        var original = Run(tag: run.tag), changed = Run(tag: run.tag)
        for (id, ranking) in run.rankings {
            if id.hasSuffix(originalSuffix) {
                original[String(id.dropLast(originalSuffix.count))] = ranking
            } else if id.hasSuffix(changedSuffix) {
                changed[String(id.dropLast(changedSuffix.count))] = ranking
            }
        }
        return (original, changed)
    }
}
