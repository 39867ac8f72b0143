import Foundation

/// One subset of BRIGHT (biology, economics, leetcode, ...) exported from the
/// Hugging Face dataset `xlangai/BRIGHT` as JSON Lines:
///
///     DIR/NAME/documents.jsonl       {"id", "content"}           (config "documents")
///     DIR/NAME/examples.jsonl        {"id", "query", "gold_ids", "gold_ids_long", "excluded_ids"}
///     DIR/NAME/long_documents.jsonl  {"id", "content"}           (optional, config "long_documents")
///
/// `gold_ids` (or `gold_ids_long` with long documents) become judgements with
/// gain 1. `excluded_ids` ("N/A" means none) are kept per query so that
/// evaluation can drop them from a run before scoring, as BRIGHT does.
public enum BRIGHTDataset {
    struct DocumentRecord: Decodable {
        var id: FlexibleID
        var content: String
    }

    struct ExampleRecord: Decodable {
        var id: FlexibleID
        var query: String
        var gold_ids: [FlexibleID]
        var gold_ids_long: [FlexibleID]?
        var excluded_ids: [FlexibleID]?
    }

    public static func load(directory: URL, subset: String, longDocuments: Bool = false) throws -> TestCollection {
        let subsetDirectory = directory.appendingPathComponent(subset)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: subsetDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            let available = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter {
                FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).appendingPathComponent("examples.jsonl").path)
            }.sorted()
            throw DatasetError.unknownSubset(directory: directory.path, name: subset, available: available)
        }
        let documents = subsetDirectory.appendingPathComponent(longDocuments ? "long_documents.jsonl" : "documents.jsonl")
        let examples = subsetDirectory.appendingPathComponent("examples.jsonl")

        var builder = CollectionBuilder()
        var documentLines = try JSONLines<DocumentRecord>(documents)
        while let record = try documentLines.next() {
            try builder.addDocument(Document(id: record.id.value, text: record.content), file: documentLines.path, line: documentLines.lineNumber)
        }

        var judgements: [QrelsLine] = []
        var excluded: [String: Set<String>] = [:]
        var exampleLines = try JSONLines<ExampleRecord>(examples)
        while let record = try exampleLines.next() {
            let id = record.id.value
            try builder.addQuery(Query(id: id, text: record.query), file: exampleLines.path, line: exampleLines.lineNumber)
            let gold: [FlexibleID]
            if longDocuments {
                guard let long = record.gold_ids_long else {
                    throw DatasetError.missingField(file: exampleLines.path, line: exampleLines.lineNumber, field: "gold_ids_long")
                }
                gold = long
            } else {
                gold = record.gold_ids
            }
            // BRIGHT lists a gold id more than once in a few examples; one judgement is meant.
            for document in Set(gold.map(\.value)) {
                judgements.append(QrelsLine(query: id, document: document, grade: 1, line: exampleLines.lineNumber))
            }
            let exclusions = Set((record.excluded_ids ?? []).map(\.value)).subtracting(["N/A"])
            if !exclusions.isEmpty { excluded[id] = exclusions }
        }
        try builder.requireNonEmpty(documentsFile: documents.path, queriesFile: examples.path)
        if judgements.isEmpty { throw DatasetError.empty(file: examples.path, what: "gold ids") }
        builder.checkJudgements(judgements, file: examples.path)
        var collection = builder.collection(name: "bright", qrels: try Qrels.from(judgements, file: examples.path))
        collection.excludedDocuments = excluded
        return collection
    }
}
