import Foundation
import Models
import Tokenizers

/// One bi-encoder training row as text, with where it came from.
public struct BiEncoderRow: Sendable, Equatable {
    public var query: String
    public var positive: String
    /// The collection document the positive is (documentID, else its text).
    public var positiveDocument: String
    public var negative: String?
    public var negativeDocument: String?
    /// Teacher margin score(q, p) − score(q, n) (margin-mse).
    public var margin: Float?
    public var file: String
    public var line: Int
}

/// Reads bi-encoder training rows from JSON Lines:
///
/// - `limrank synthesize`'s `examples.jsonl`: `{"query", "instruction"?,
///   "positives": [{"text", "documentID"?, "score"?}], "negatives": [...]}`;
/// - pair lines `{"query", "passage", "label", "documentID"?, "score"?}`,
///   grouped by query (label true: a positive, false: a negative).
///
/// MultipleNegativesRankingLoss: one (query, positive, hard negative) row
/// per positive, the i-th positive taking the (i mod count)-th negative, or
/// (query, positive) when the query has none. MarginMSE: a (query, positive,
/// negative) triple for every positive × negative, labelled with the margin
/// of their teacher `"score"`s; a passage without one is an error naming its
/// line (`limrank teacher` writes them); a query without negatives gives none.
public enum BiEncoderData {
    struct Passage: Decodable {
        var text: String
        var documentID: String?
        var score: Double?
    }

    struct Line: Decodable {
        var query: String
        var instruction: String?
        var positives: [Passage]?
        var negatives: [Passage]?
        var passage: String?
        var label: CrossEncoderData.Label?
        var documentID: String?
        var score: Double?
    }

    struct Group {
        var query: String
        var line: Int
        var positives: [(passage: Passage, line: Int, item: String)] = []
        var negatives: [(passage: Passage, line: Int, item: String)] = []
    }

    /// The rows of `url` for `loss`, and how many queries gave none (margin-mse without negatives).
    public static func read(_ url: URL, loss: BiEncoderLoss) throws -> (rows: [BiEncoderRow], queriesWithoutRows: Int) {
        let file = url.path
        var groups: [Group] = [], pairGroup: [String: Int] = [:]
        try TrainingDataReader(url).forEachLine { number, text in
            let line = try TrainingDataReader.decode(Line.self, text, file: file, line: number)
            func bad(_ reason: String) -> TrainingError { .invalidData(file: file, line: number, reason: reason) }
            // As the dense reranker joins a query to its instruction.
            let instruction = line.instruction ?? ""
            let query = instruction.isEmpty ? line.query : line.query + " " + instruction
            guard !query.allSatisfy(\.isWhitespace) else { throw bad("empty query") }
            if line.positives != nil || line.negatives != nil {
                var group = Group(query: query, line: number)
                for (i, p) in (line.positives ?? []).enumerated() {
                    guard !p.text.allSatisfy(\.isWhitespace) else { throw bad("empty passage text (positives item \(i))") }
                    group.positives.append((p, number, "positives item \(i)"))
                }
                for (i, p) in (line.negatives ?? []).enumerated() {
                    guard !p.text.allSatisfy(\.isWhitespace) else { throw bad("empty passage text (negatives item \(i))") }
                    group.negatives.append((p, number, "negatives item \(i)"))
                }
                guard !group.positives.isEmpty else { throw bad("no positive passage: a bi-encoder row needs one") }
                groups.append(group)
            } else {
                guard let passage = line.passage else { throw bad("missing field \"passage\" (or \"positives\"/\"negatives\")") }
                guard !passage.allSatisfy(\.isWhitespace) else { throw bad("empty passage") }
                guard let label = line.label else { throw bad("missing field \"label\"") }
                switch label {
                case let .invalid(value):
                    throw bad("label \(value) is neither true nor false")
                case let .value(relevant):
                    let g: Int
                    if let existing = pairGroup[query] {
                        g = existing
                    } else {
                        groups.append(Group(query: query, line: number))
                        g = groups.count - 1
                        pairGroup[query] = g
                    }
                    let p = Passage(text: passage, documentID: line.documentID, score: line.score)
                    if relevant { groups[g].positives.append((p, number, "passage")) } else { groups[g].negatives.append((p, number, "passage")) }
                }
            }
        }
        var rows: [BiEncoderRow] = [], without = 0
        for g in groups {
            switch loss {
            case .mnrl:
                guard !g.positives.isEmpty else {
                    without += 1
                    continue
                }
                for (i, p) in g.positives.enumerated() {
                    let n = g.negatives.isEmpty ? nil : g.negatives[i % g.negatives.count].passage
                    rows.append(BiEncoderRow(query: g.query, positive: p.passage.text, positiveDocument: p.passage.documentID ?? p.passage.text,
                                             negative: n?.text, negativeDocument: n.map { $0.documentID ?? $0.text }, margin: nil,
                                             file: file, line: p.line))
                }
            case .marginMSE:
                for p in g.positives + g.negatives where p.passage.score == nil {
                    throw TrainingError.invalidData(file: file, line: p.line,
                        reason: "margin-mse needs a teacher \"score\" on every passage; \(p.item) has none (write them with `limrank teacher`)")
                }
                guard !g.positives.isEmpty, !g.negatives.isEmpty else {
                    without += 1
                    continue
                }
                for p in g.positives {
                    for n in g.negatives {
                        rows.append(BiEncoderRow(query: g.query, positive: p.passage.text, positiveDocument: p.passage.documentID ?? p.passage.text,
                                                 negative: n.passage.text, negativeDocument: n.passage.documentID ?? n.passage.text,
                                                 margin: Float(p.passage.score! - n.passage.score!), file: file, line: p.line))
                    }
                }
            }
        }
        guard !rows.isEmpty else { throw TrainingError.emptyDataSet(file: file) }
        return (rows, without)
    }

    /// Tokenizes rows as the sentence encoder tokenizes single texts (at most
    /// `maxSequence` tokens, longer texts cut at the end, as
    /// sentence-transformers truncates to max_seq_length) and interns the
    /// batch sampler's keys: the query text and each passage's document.
    public static func encode(_ rows: [BiEncoderRow], tokenizer: Tokenizer, maxSequence: Int) throws -> [BiEncoderExample] {
        guard maxSequence > tokenizer.addedTokenCount(pair: false) else {
            throw TrainingError.invalidParameter(name: "max-seq", reason: "must be more than \(tokenizer.addedTokenCount(pair: false)) tokens, got \(maxSequence)")
        }
        var ids: [String: Int] = [:]
        func key(_ s: String) -> Int {
            if let k = ids[s] { return k }
            ids[s] = ids.count
            return ids.count - 1
        }
        var cache: [String: [Int32]] = [:]
        func tokens(_ text: String) -> [Int32] {
            if let t = cache[text] { return t }
            let t = tokenizer.encode(text, maxLength: maxSequence).ids.map { Int32($0) }
            cache[text] = t
            return t
        }
        return rows.map { r in
            var keys = [key("query\u{0}" + r.query), key("document\u{0}" + r.positiveDocument)]
            if let d = r.negativeDocument { keys.append(key("document\u{0}" + d)) }
            return BiEncoderExample(query: tokens(r.query), positive: tokens(r.positive), negative: r.negative.map(tokens),
                                    margin: r.margin, keys: keys)
        }
    }
}
