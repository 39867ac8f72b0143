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

extension BRIGHTDataset {
    /// Rank1's per-subset query templates for BRIGHT (its `prompts.py`, keys
    /// `BrightRetrieval_<subset>`, used by LimRank's evaluation unchanged):
    /// `FILL_QUERY_HERE` stands for the query. Subsets without their own take
    /// `defaultRank1QueryTemplate`. Golden copy: `Scripts/fixtures/limrank_prompts.py`.
    public static let rank1QueryTemplates: [String: String] = [
        "aops": "Find different but similar math problems to FILL_QUERY_HERE\n\nA document is relevant if it uses the same class of functions and shares **any** overlapping techniques.",
        "theoremqa_questions": "Find a passage which uses the same mathematical process as this one: FILL_QUERY_HERE",
        "theoremqa_theorems": "Find a passage which uses the same mathematical process as this one: FILL_QUERY_HERE",
        "leetcode": "I am looking to find different problems that share similar data structures (of any kind) or algorithms (e.g. DFS, DP, sorting, traversals, etc.). I am looking for problems that share one or both of these similarities to this:\n    \nFILL_QUERY_HERE\n\nDoes this passage share any similarities? e.g. if there was a textbook on leetcode problems, this would be in the same book even though it could be in a different chapter. \n\n\n",
        "pony": "I will use the programming language pony. Problem: FILL_QUERY_HERE\n\nBut to solve the problem above, I need to know things about pony. A passage is relevant if it contains docs that match **any** part (even basic parts) of the code I will have to write for the above program.",
    ]

    /// Rank1's `BrightRetrieval` template: the StackExchange subsets
    /// (biology, earth_science, economics, psychology, robotics,
    /// stackoverflow, sustainable_living).
    public static let defaultRank1QueryTemplate = "Can you find background information about the concepts used to answer the question:\n\nFILL_QUERY_HERE\n\nA passage is relevant if it contains background information about a **sub-concept** that someone might cite/link to when answering the above question."

    /// The template Rank1 uses for `subset`.
    public static func rank1QueryTemplate(subset: String) -> String {
        rank1QueryTemplates[subset] ?? defaultRank1QueryTemplate
    }
}
