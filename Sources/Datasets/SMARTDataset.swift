import Foundation

/// One `.I` record of a SMART-format file: its id and the lines under each
/// field marker (`.T` title, `.A` authors, `.B` bibliography, `.W` text,
/// `.X` cross-references, ...).
struct SMARTRecord {
    var id: String
    var line: Int
    var fields: [Character: [String]] = [:]

    func field(_ marker: Character) -> String {
        (fields[marker] ?? []).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// Reads SMART records one at a time.
struct SMARTRecords {
    private var lines: TextLines
    private var pending: SMARTRecord?
    var path: String { lines.path }

    init(_ url: URL) throws { lines = try TextLines(url) }

    /// A field marker is a line that is a dot, one capital letter, and
    /// optionally a space and a value (`.I 12`, `.W`).
    private static func marker(_ line: String) -> (Character, String)? {
        let scalars = Array(line.unicodeScalars.prefix(3))
        guard scalars.count >= 2, scalars[0] == ".", ("A"..."Z").contains(scalars[1]),
              scalars.count == 2 || scalars[2] == " " || scalars[2] == "\t" else { return nil }
        let value = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
        return (Character(scalars[1]), value)
    }

    mutating func next() throws -> SMARTRecord? {
        var current = pending
        pending = nil
        var field: Character?
        while let line = try lines.next() {
            if let (name, value) = Self.marker(line) {
                if name == "I" {
                    guard !value.isEmpty, !value.contains(where: \.isWhitespace) else {
                        throw DatasetError.malformed(file: path, line: lines.lineNumber, reason: "\".I\" needs exactly one id")
                    }
                    let record = SMARTRecord(id: value, line: lines.lineNumber)
                    if current != nil {
                        pending = record
                        return current
                    }
                    current = record
                    field = nil
                } else {
                    guard current != nil else {
                        throw DatasetError.malformed(file: path, line: lines.lineNumber, reason: "field .\(name) before the first .I record")
                    }
                    field = name
                    current?.fields[name, default: []].append(value)
                }
            } else if let field {
                current?.fields[field, default: []].append(line)
            } else if !line.allSatisfy(\.isWhitespace) {
                throw DatasetError.malformed(
                    file: path, line: lines.lineNumber,
                    reason: current == nil ? "text before the first .I record" : "text outside any field (expected .T, .W, ...)")
            }
        }
        return current
    }
}

/// Collections in the SMART format of the classic test collections (CACM,
/// CISI, MED, ...): documents and queries as `.I/.T/.A/.B/.W/.X` records and
/// qrels lines `qid docid ...` (binary relevance: every listed pair is
/// relevant, with gain 1).
///
/// Ids are used as written, except that all-digit ids are compared as numbers
/// (`01` and `1` are the same query), because several collections write their
/// qrels with zero-padded ids (CACM's `qrels.text`).
public enum SMARTDataset {
    public static func load(documents: URL, queries: URL, qrels: URL) throws -> TestCollection {
        var builder = CollectionBuilder()
        try readDocuments(documents, into: &builder, normalizeIDs: true)
        var records = try SMARTRecords(queries)
        while let record = try records.next() {
            let text = record.field("W")
            try builder.addQuery(Query(id: normalize(record.id), text: text), file: records.path, line: record.line)
        }
        try builder.requireNonEmpty(documentsFile: documents.path, queriesFile: queries.path)

        var lines = try TextLines(qrels)
        var judgements: [QrelsLine] = []
        while let line = try lines.next() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count >= 2 else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "expected \"qid docid ...\"")
            }
            judgements.append(QrelsLine(
                query: normalize(String(fields[0])), document: normalize(String(fields[1])), grade: 1, line: lines.lineNumber))
        }
        if judgements.isEmpty { throw DatasetError.empty(file: qrels.path, what: "judgements") }
        builder.checkJudgements(judgements, file: qrels.path)
        let qrelsValue = try Qrels.from(judgements, file: qrels.path, keepQuery: builder.hasQuery)
        return builder.collection(name: "smart", qrels: qrelsValue)
    }

    /// Documents are `.T` title and `.W` text; other fields are bibliographic.
    static func readDocuments(_ url: URL, into builder: inout CollectionBuilder, normalizeIDs: Bool) throws {
        var records = try SMARTRecords(url)
        while let record = try records.next() {
            let id = normalizeIDs ? normalize(record.id) : record.id
            try builder.addDocument(
                Document(id: id, title: record.field("T"), text: record.field("W")), file: records.path, line: record.line)
        }
    }

    static func normalize(_ id: String) -> String {
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return id }
        let trimmed = id.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }
}
