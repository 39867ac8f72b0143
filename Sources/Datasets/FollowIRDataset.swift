import Foundation

/// A FollowIR collection (Core17, Robust04, News21 instructions) in this
/// layout, which mirrors the files of FollowIR's MTEB datasets:
///
///     DIR/corpus.jsonl       {"_id", "title", "text"}
///     DIR/queries.jsonl      {"_id", "text", "instruction_og", "instruction_changed"}
///     DIR/qrels_og.tsv       query-id<TAB>corpus-id<TAB>score (header line first)
///     DIR/qrels_changed.tsv  the judgements under the changed instructions
///
/// `queries` carry the original instructions; `instructionChange` the changed
/// ones and their judgements.
public enum FollowIRDataset {
    struct QueryRecord: Decodable {
        var _id: FlexibleID
        var text: String
        var instruction_og: String
        var instruction_changed: String
    }

    public static func load(directory: URL) throws -> TestCollection {
        let corpus = directory.appendingPathComponent("corpus.jsonl")
        let queries = directory.appendingPathComponent("queries.jsonl")
        let qrelsOriginal = directory.appendingPathComponent("qrels_og.tsv")
        let qrelsChanged = directory.appendingPathComponent("qrels_changed.tsv")

        var builder = CollectionBuilder()
        try BEIRDataset.readCorpus(corpus, into: &builder)
        var changedQueries: [Query] = []
        var queryLines = try JSONLines<QueryRecord>(queries)
        while let record = try queryLines.next() {
            let id = record._id.value
            try builder.addQuery(Query(id: id, text: record.text, instruction: record.instruction_og), file: queryLines.path, line: queryLines.lineNumber)
            changedQueries.append(Query(id: id, text: record.text, instruction: record.instruction_changed))
        }
        try builder.requireNonEmpty(documentsFile: corpus.path, queriesFile: queries.path)

        let original = try BEIRDataset.readTSVQrels(qrelsOriginal)
        builder.checkJudgements(original, file: qrelsOriginal.path)
        let changed = try BEIRDataset.readTSVQrels(qrelsChanged)
        builder.checkJudgements(changed, file: qrelsChanged.path)
        var collection = builder.collection(
            name: "followir", qrels: try Qrels.from(original, file: qrelsOriginal.path, keepQuery: builder.hasQuery))
        collection.instructionChange = InstructionChange(
            queries: changedQueries, qrels: try Qrels.from(changed, file: qrelsChanged.path, keepQuery: builder.hasQuery))
        return collection
    }
}
