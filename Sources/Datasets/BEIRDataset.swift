import Foundation

/// A collection in BEIR's layout: `corpus.jsonl` (`_id`, `title`, `text`),
/// `queries.jsonl` (`_id`, `text`) and `qrels/test.tsv` (a header line, then
/// `query-id<TAB>corpus-id<TAB>score`).
///
/// As BEIR's own loader does, only the queries that have judgements in the
/// qrels file are kept (queries.jsonl usually holds train and dev queries too).
public enum BEIRDataset {
    struct CorpusRecord: Decodable {
        var _id: FlexibleID
        var title: String?
        var text: String
    }

    struct QueryRecord: Decodable {
        var _id: FlexibleID
        var text: String
    }

    public static func load(directory: URL, split: String = "test") throws -> TestCollection {
        let corpus = directory.appendingPathComponent("corpus.jsonl")
        let queries = directory.appendingPathComponent("queries.jsonl")
        let qrels = directory.appendingPathComponent("qrels").appendingPathComponent("\(split).tsv")
        var builder = CollectionBuilder()
        try readCorpus(corpus, into: &builder)

        let judgements = try readTSVQrels(qrels)
        let judgedQueries = Set(judgements.map(\.query))
        var queryLines = try JSONLines<QueryRecord>(queries)
        while let record = try queryLines.next() {
            guard judgedQueries.contains(record._id.value) else { continue }
            try builder.addQuery(Query(id: record._id.value, text: record.text), file: queryLines.path, line: queryLines.lineNumber)
        }
        try builder.requireNonEmpty(documentsFile: corpus.path, queriesFile: queries.path)
        builder.checkJudgements(judgements, file: qrels.path)
        let qrelsValue = try Qrels.from(judgements, file: qrels.path, keepQuery: builder.hasQuery)
        return builder.collection(name: "beir", qrels: qrelsValue)
    }

    static func readCorpus(_ url: URL, into builder: inout CollectionBuilder) throws {
        var lines = try JSONLines<CorpusRecord>(url)
        while let record = try lines.next() {
            try builder.addDocument(
                Document(id: record._id.value, title: record.title ?? "", text: record.text), file: lines.path, line: lines.lineNumber)
        }
    }

    /// BEIR qrels: tab-separated `query-id corpus-id score` with a header
    /// line, which is recognised by its non-numeric score column.
    static func readTSVQrels(_ url: URL) throws -> [QrelsLine] {
        var lines = try TextLines(url)
        var judgements: [QrelsLine] = []
        while let line = try lines.next() {
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == 3 else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "expected \"query-id<TAB>corpus-id<TAB>score\"")
            }
            guard let grade = Int(fields[2]) ?? Double(fields[2]).flatMap({ $0 == $0.rounded() ? Int(exactly: $0) : nil }) else {
                if lines.lineNumber == 1 { continue }  // the header
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "score \"\(fields[2])\" is not an integer")
            }
            judgements.append(QrelsLine(query: fields[0], document: fields[1], grade: grade, line: lines.lineNumber))
        }
        if judgements.isEmpty { throw DatasetError.empty(file: url.path, what: "judgements") }
        return judgements
    }
}
