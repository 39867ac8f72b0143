import Foundation

/// A FollowIR pair's second half: the same queries with their changed
/// instructions, and the judgements made under those instructions.
public struct InstructionChange: Sendable {
    public var queries: [Query]
    public var qrels: Qrels

    public init(queries: [Query], qrels: Qrels) {
        self.queries = queries
        self.qrels = qrels
    }
}

/// A loaded test collection: what to index, what to ask, how to judge.
public struct TestCollection: Sendable {
    /// The adapter's name (`cranfield`, `smart`, `beir`, `bright`, `followir`).
    public var name: String
    public var documents: [Document]
    /// The queries to run; for FollowIR they carry the original instructions.
    public var queries: [Query]
    public var qrels: Qrels
    /// BRIGHT: per query, documents that must be removed from its run before
    /// scoring (BRIGHT's `excluded_ids`).
    public var excludedDocuments: [String: Set<String>]
    /// FollowIR: the changed instructions and their judgements.
    public var instructionChange: InstructionChange?
    /// Non-fatal findings, for the CLI to print on stderr.
    public var warnings: [DatasetWarning]

    public init(
        name: String, documents: [Document], queries: [Query], qrels: Qrels,
        excludedDocuments: [String: Set<String>] = [:], instructionChange: InstructionChange? = nil,
        warnings: [DatasetWarning] = []
    ) {
        self.name = name
        self.documents = documents
        self.queries = queries
        self.qrels = qrels
        self.excludedDocuments = excludedDocuments
        self.instructionChange = instructionChange
        self.warnings = warnings
    }

    public var documentIDs: Set<String> { Set(documents.map(\.id)) }
    public var queryIDs: Set<String> { Set(queries.map(\.id)) }
}

/// Collects records while a loader streams its files and enforces the rules
/// every adapter shares: unique ids, non-empty queries, judgements checked
/// against the corpus.
struct CollectionBuilder {
    private(set) var documents: [Document] = []
    private(set) var queries: [Query] = []
    private(set) var warnings: [DatasetWarning] = []
    private var documentLines: [String: Int] = [:]
    private var queryLines: [String: Int] = [:]

    mutating func addDocument(_ document: Document, file: String, line: Int) throws {
        if let first = documentLines[document.id] {
            throw DatasetError.duplicateID(file: file, line: line, id: document.id, firstLine: first)
        }
        documentLines[document.id] = line
        if document.title.allSatisfy(\.isWhitespace) && document.text.allSatisfy(\.isWhitespace) {
            warnings.append(DatasetWarning(
                file: file, line: line,
                message: "document \(document.id) is empty; it is kept (judgements may name it) but can never be retrieved"))
        }
        documents.append(document)
    }

    mutating func addQuery(_ query: Query, file: String, line: Int) throws {
        if let first = queryLines[query.id] {
            throw DatasetError.duplicateID(file: file, line: line, id: query.id, firstLine: first)
        }
        if query.text.allSatisfy(\.isWhitespace) {
            throw DatasetError.emptyQuery(file: file, line: line, id: query.id)
        }
        queryLines[query.id] = line
        queries.append(query)
    }

    func hasDocument(_ id: String) -> Bool { documentLines[id] != nil }
    func hasQuery(_ id: String) -> Bool { queryLines[id] != nil }

    mutating func warn(_ warning: DatasetWarning) { warnings.append(warning) }

    func requireNonEmpty(documentsFile: String, queriesFile: String) throws {
        if documents.isEmpty { throw DatasetError.empty(file: documentsFile, what: "documents") }
        if queries.isEmpty { throw DatasetError.empty(file: queriesFile, what: "queries") }
    }

    /// Reports judgements that name documents or queries the collection does
    /// not have. They are kept, as trec_eval keeps them: they still count
    /// towards the number of relevant documents (recall, MAP).
    mutating func checkJudgements(_ judgements: [QrelsLine], file: String) {
        var unknownDocuments = 0
        var firstUnknownDocument: QrelsLine?
        var unknownQueries = Set<String>()
        var firstUnknownQuery: QrelsLine?
        for judgement in judgements {
            if !hasDocument(judgement.document) {
                unknownDocuments += 1
                if firstUnknownDocument == nil { firstUnknownDocument = judgement }
            }
            if !hasQuery(judgement.query), unknownQueries.insert(judgement.query).inserted, firstUnknownQuery == nil {
                firstUnknownQuery = judgement
            }
        }
        if let first = firstUnknownDocument {
            warn(DatasetWarning(
                file: file, line: first.line,
                message: "\(unknownDocuments) judgement(s) name documents not in the corpus (first: \(first.document)); they still count as relevant documents"))
        }
        if let first = firstUnknownQuery {
            warn(DatasetWarning(
                file: file, line: first.line,
                message: "judgements name \(unknownQueries.count) query id(s) not among the queries (first: \(first.query)); they are ignored"))
        }
    }

    func collection(name: String, qrels: Qrels) -> TestCollection {
        TestCollection(name: name, documents: documents, queries: queries, qrels: qrels, warnings: warnings)
    }
}

/// One parsed judgement with the line it came from, for messages.
struct QrelsLine {
    var query: String
    var document: String
    var grade: Int
    var line: Int
}

extension Qrels {
    /// Builds qrels from parsed lines, rejecting a second judgement of the
    /// same pair (trec_eval would silently keep one of them).
    static func from(_ lines: [QrelsLine], file: String, keepQuery: (String) -> Bool = { _ in true }) throws -> Qrels {
        var judgements: [String: [String: Int]] = [:]
        for entry in lines where keepQuery(entry.query) {
            if judgements[entry.query, default: [:]].updateValue(entry.grade, forKey: entry.document) != nil {
                throw DatasetError.duplicateJudgement(file: file, line: entry.line, query: entry.query, document: entry.document)
            }
        }
        return Qrels(judgements)
    }
}
