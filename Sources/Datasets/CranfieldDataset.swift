import Foundation

/// The Cranfield collection: `cran.all.1400` (documents), `cran.qry`
/// (queries) and `cranqrel` (judgements) in one directory.
///
/// Two quirks of the distributed files:
/// - `cran.qry` numbers its queries `.I 001, 002, 004, 008, ...`, but
///   `cranqrel` numbers them 1..225 by position. Queries are therefore given
///   the id of their position (the 1st record is query `1`, the 3rd, written
///   `.I 004`, is query `3`).
/// - `cranqrel` grades 1 (most relevant) .. 4 (least); they become gains
///   4 .. 1 (gain = 5 - grade). Lines with grade -1 are not judgements and are
///   skipped.
///
/// Documents 471 and 995 have no title and no text. They are kept (with a
/// warning), not dropped: 995 is judged relevant, and dropping them would
/// change the document count that BM25's idf depends on.
public enum CranfieldDataset {
    public static let documentsFile = "cran.all.1400"
    public static let queriesFile = "cran.qry"
    public static let qrelsFile = "cranqrel"

    public static func load(directory: URL) throws -> TestCollection {
        let documents = directory.appendingPathComponent(documentsFile)
        let queries = directory.appendingPathComponent(queriesFile)
        let qrels = directory.appendingPathComponent(qrelsFile)
        var builder = CollectionBuilder()
        try SMARTDataset.readDocuments(documents, into: &builder, normalizeIDs: false)

        var records = try SMARTRecords(queries)
        var position = 0
        while let record = try records.next() {
            position += 1
            try builder.addQuery(Query(id: String(position), text: record.field("W")), file: records.path, line: record.line)
        }
        try builder.requireNonEmpty(documentsFile: documents.path, queriesFile: queries.path)

        var lines = try TextLines(qrels)
        var judgements: [QrelsLine] = []
        while let line = try lines.next() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count == 3, let grade = Int(fields[2]) else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "expected \"qid docid grade\"")
            }
            if grade == -1 { continue }
            guard (1...4).contains(grade) else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "grade \(grade) is not -1 or 1..4")
            }
            judgements.append(QrelsLine(
                query: String(fields[0]), document: String(fields[1]), grade: 5 - grade, line: lines.lineNumber))
        }
        if judgements.isEmpty { throw DatasetError.empty(file: qrels.path, what: "judgements") }
        builder.checkJudgements(judgements, file: qrels.path)
        let qrelsValue = try Qrels.from(judgements, file: qrels.path, keepQuery: builder.hasQuery)
        return builder.collection(name: "cranfield", qrels: qrelsValue)
    }
}
