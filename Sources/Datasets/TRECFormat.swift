import Foundation

/// TREC run files (`qid Q0 docid rank score tag`) and qrels files
/// (`qid iter docid grade`), read and written.
public enum TRECFormat {
    /// Reads a run. Each query's candidates come back best first: by score,
    /// ties by document id in descending byte order (trec_eval's order).
    ///
    /// - Parameter knownQueries: when given, a line naming any other query is
    ///   an error (a run made for a different collection).
    public static func readRun(from url: URL, knownQueries: Set<String>? = nil) throws -> Run {
        var lines = try TextLines(url)
        var rankings: [String: [ScoredDocument]] = [:]
        var seen: [String: Set<String>] = [:]
        var tag: String?
        while let line = try lines.next() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count == 6 else {
                throw DatasetError.malformed(
                    file: lines.path, line: lines.lineNumber, reason: "expected 6 fields \"qid Q0 docid rank score tag\", found \(fields.count)")
            }
            let query = String(fields[0]), document = String(fields[2])
            guard Int(fields[3]) != nil else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "rank \"\(fields[3])\" is not an integer")
            }
            guard let score = Double(fields[4]), score.isFinite else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "score \"\(fields[4])\" is not a finite number")
            }
            if let knownQueries, !knownQueries.contains(query) {
                throw DatasetError.unknownQuery(file: lines.path, line: lines.lineNumber, id: query)
            }
            guard seen[query, default: []].insert(document).inserted else {
                throw DatasetError.duplicateRunEntry(file: lines.path, line: lines.lineNumber, query: query, document: document)
            }
            if tag == nil { tag = String(fields[5]) }
            rankings[query, default: []].append(ScoredDocument(id: document, score: score))
        }
        if rankings.isEmpty { throw DatasetError.empty(file: url.path, what: "run lines") }
        for (query, candidates) in rankings {
            rankings[query] = candidates.sorted(by: bestFirst)
        }
        return Run(rankings, tag: tag ?? "limrank")
    }

    /// The 1-based line of the first entry for `query` in a run file (nil when
    /// it has none), for errors that must say where a query comes from.
    public static func firstLine(ofQuery query: String, inRun url: URL) throws -> Int? {
        var lines = try TextLines(url)
        while let line = try lines.next() {
            if let first = line.split(whereSeparator: \.isWhitespace).first, first == query { return lines.lineNumber }
        }
        return nil
    }

    /// Higher score first; equal scores by document id, descending byte order.
    public static func bestFirst(_ a: ScoredDocument, _ b: ScoredDocument) -> Bool {
        if a.score != b.score { return a.score > b.score }
        return b.id.utf8.lexicographicallyPrecedes(a.id.utf8)
    }

    /// The run as TREC text: queries in id order, candidates in the run's
    /// order with ranks from 1. Scores are written in the shortest form that
    /// reads back to the same Double.
    public static func format(_ run: Run) -> String {
        var out = ""
        for query in run.queryIDs {
            for (index, candidate) in run[query].enumerated() {
                out += "\(query) Q0 \(candidate.id) \(index + 1) \(candidate.score) \(run.tag)\n"
            }
        }
        return out
    }

    public static func writeRun(_ run: Run, to url: URL) throws {
        try write(format(run), to: url)
    }

    /// Reads qrels `qid iter docid grade`; the iteration column is ignored.
    public static func readQrels(from url: URL) throws -> Qrels {
        var lines = try TextLines(url)
        var judgements: [QrelsLine] = []
        while let line = try lines.next() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count == 4, let grade = Int(fields[3]) else {
                throw DatasetError.malformed(file: lines.path, line: lines.lineNumber, reason: "expected \"qid iter docid grade\" with an integer grade")
            }
            judgements.append(QrelsLine(query: String(fields[0]), document: String(fields[2]), grade: grade, line: lines.lineNumber))
        }
        if judgements.isEmpty { throw DatasetError.empty(file: url.path, what: "judgements") }
        return try Qrels.from(judgements, file: url.path)
    }

    public static func format(_ qrels: Qrels) -> String {
        var out = ""
        for query in qrels.queryIDs {
            for (document, grade) in qrels[query].sorted(by: { $0.key < $1.key }) {
                out += "\(query) 0 \(document) \(grade)\n"
            }
        }
        return out
    }

    public static func writeQrels(_ qrels: Qrels, to url: URL) throws {
        try write(format(qrels), to: url)
    }

    private static func write(_ text: String, to url: URL) throws {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw DatasetError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}
