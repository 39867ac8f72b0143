import Foundation

/// The documents of a collection and nothing else: what a consumer that must
/// never see the collection's queries or judgements (the corpus-grounded
/// synthesiser, whose output becomes training data) reads. The loaders below
/// open only the documents file of each layout, so a collection whose query
/// and qrels files are missing or garbage loads all the same.
public struct DocumentCollection: Sendable {
    public var name: String
    public var documents: [Document]
    public var warnings: [DatasetWarning]
    /// The file the documents came from, for messages.
    public var source: String

    public init(name: String, documents: [Document], warnings: [DatasetWarning] = [], source: String) {
        self.name = name
        self.documents = documents
        self.warnings = warnings
        self.source = source
    }

    static func from(_ builder: CollectionBuilder, name: String, file: URL) throws -> DocumentCollection {
        if builder.documents.isEmpty { throw DatasetError.empty(file: file.path, what: "documents") }
        return DocumentCollection(name: name, documents: builder.documents, warnings: builder.warnings, source: file.path)
    }
}

extension CranfieldDataset {
    /// `cran.all.1400` only.
    public static func loadDocuments(directory: URL) throws -> DocumentCollection {
        let file = directory.appendingPathComponent(documentsFile)
        var builder = CollectionBuilder()
        try SMARTDataset.readDocuments(file, into: &builder, normalizeIDs: false)
        return try .from(builder, name: "cranfield", file: file)
    }
}

extension SMARTDataset {
    /// The `.I/.T/.W` documents file only.
    public static func loadDocuments(documents: URL) throws -> DocumentCollection {
        var builder = CollectionBuilder()
        try readDocuments(documents, into: &builder, normalizeIDs: true)
        return try .from(builder, name: "smart", file: documents)
    }
}

extension BEIRDataset {
    /// `corpus.jsonl` only.
    public static func loadDocuments(directory: URL) throws -> DocumentCollection {
        let file = directory.appendingPathComponent("corpus.jsonl")
        var builder = CollectionBuilder()
        try readCorpus(file, into: &builder)
        return try .from(builder, name: "beir", file: file)
    }
}

extension FollowIRDataset {
    /// `corpus.jsonl` only.
    public static func loadDocuments(directory: URL) throws -> DocumentCollection {
        let file = directory.appendingPathComponent("corpus.jsonl")
        var builder = CollectionBuilder()
        try BEIRDataset.readCorpus(file, into: &builder)
        return try .from(builder, name: "followir", file: file)
    }
}

extension BRIGHTDataset {
    /// `NAME/documents.jsonl` (or `long_documents.jsonl`) only.
    public static func loadDocuments(directory: URL, subset: String, longDocuments: Bool = false) throws -> DocumentCollection {
        let subsetDirectory = directory.appendingPathComponent(subset)
        let file = subsetDirectory.appendingPathComponent(longDocuments ? "long_documents.jsonl" : "documents.jsonl")
        guard FileManager.default.fileExists(atPath: file.path) else {
            let available = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter {
                FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).appendingPathComponent("documents.jsonl").path)
            }.sorted()
            throw DatasetError.unknownSubset(directory: directory.path, name: subset, available: available)
        }
        var builder = CollectionBuilder()
        var lines = try JSONLines<DocumentRecord>(file)
        while let record = try lines.next() {
            try builder.addDocument(Document(id: record.id.value, text: record.content), file: lines.path, line: lines.lineNumber)
        }
        return try .from(builder, name: "bright/\(subset)", file: file)
    }
}
