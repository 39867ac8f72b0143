import Foundation
import Models
import Tokenizers

/// One labelled (query, passage) pair and where it came from.
public struct CrossEncoderPair: Sendable, Equatable {
    public var query: String
    public var passage: String
    public var relevant: Bool
    /// A teacher's relevance score of the pair (`limrank teacher`), when the file has one.
    public var score: Double?
    public var file: String
    public var line: Int

    public init(query: String, passage: String, relevant: Bool, score: Double? = nil, file: String, line: Int) {
        self.query = query
        self.passage = passage
        self.relevant = relevant
        self.score = score
        self.file = file
        self.line = line
    }
}

/// Reads cross-encoder training pairs from JSON Lines, in either layout:
///
/// - `limrank synthesize`'s `examples.jsonl`: `{"query", "instruction"?,
///   "positives": [{"text"}], "negatives": [{"text"}]}`: one pair per passage,
///   positives labelled relevant, (hard) negatives not; the instruction is
///   joined to the query as the rerankers join it (`PointwisePrompt.joinedQuery`);
/// - one pair per line: `{"query", "passage", "label"}` with label `true` /
///   `false` (also `1` / `0` and the strings "true" / "false").
///
/// A passage (or pair line) may carry a teacher's `"score"` (a JSON number),
/// which the distillation losses read; files without one read as before.
///
/// Every problem names `file:line`: malformed JSON, a missing field, a label
/// that is neither true nor false, an empty query or passage, a line with no
/// passage at all; a file without a single pair is an empty data set.
public enum CrossEncoderData {
    struct Passage: Decodable {
        var text: String
        var score: Double?
    }

    struct Line: Decodable {
        var query: String
        var instruction: String?
        var positives: [Passage]?
        var negatives: [Passage]?
        var passage: String?
        var label: Label?
        var score: Double?
    }

    /// A label as written: a JSON boolean, 0/1, or "true"/"false".
    enum Label: Decodable {
        case value(Bool)
        case invalid(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = .value(b)
            } else if let i = try? c.decode(Int.self) {
                self = i == 0 || i == 1 ? .value(i == 1) : .invalid(String(i))
            } else if let s = try? c.decode(String.self) {
                switch s.lowercased() {
                case "true": self = .value(true)
                case "false": self = .value(false)
                default: self = .invalid("\"\(s)\"")
                }
            } else if let d = try? c.decode(Double.self) {
                self = .invalid(String(d))
            } else {
                self = .invalid("of another type")
            }
        }
    }

    public static func read(_ url: URL) throws -> [CrossEncoderPair] {
        let file = url.path
        var pairs: [CrossEncoderPair] = []
        try TrainingDataReader(url).forEachLine { number, text in
            let line = try TrainingDataReader.decode(Line.self, text, file: file, line: number)
            func bad(_ reason: String) -> TrainingError { .invalidData(file: file, line: number, reason: reason) }
            let query = PointwisePrompt.joinedQuery(line.query, instruction: line.instruction ?? "")
            guard !query.allSatisfy(\.isWhitespace) else { throw bad("empty query") }
            if line.positives != nil || line.negatives != nil {
                let labelled = (line.positives ?? []).map { ($0, true) } + (line.negatives ?? []).map { ($0, false) }
                guard !labelled.isEmpty else { throw bad("no passage: \"positives\" and \"negatives\" are both empty") }
                for (i, (passage, relevant)) in labelled.enumerated() {
                    guard !passage.text.allSatisfy(\.isWhitespace) else {
                        throw bad("empty passage text (\(relevant ? "positives" : "negatives") item \(relevant ? i : i - (line.positives?.count ?? 0)))")
                    }
                    pairs.append(CrossEncoderPair(query: query, passage: passage.text, relevant: relevant, score: passage.score,
                                                  file: file, line: number))
                }
            } else {
                guard let passage = line.passage else {
                    throw bad("missing field \"passage\" (or \"positives\"/\"negatives\")")
                }
                guard !passage.allSatisfy(\.isWhitespace) else { throw bad("empty passage") }
                guard let label = line.label else { throw bad("missing field \"label\"") }
                switch label {
                case let .value(relevant):
                    pairs.append(CrossEncoderPair(query: query, passage: passage, relevant: relevant, score: line.score,
                                                  file: file, line: number))
                case let .invalid(value):
                    throw bad("label \(value) is neither true nor false")
                }
            }
        }
        guard !pairs.isEmpty else { throw TrainingError.emptyDataSet(file: file) }
        return pairs
    }

    /// (query, positive, negative) triples for margin-mse: every relevant
    /// pair with every irrelevant pair of the same query (pairs of one query
    /// may come from one examples.jsonl line or from several pair lines), in
    /// file order. Queries with no positive or no negative give none.
    public static func triples(_ pairs: [CrossEncoderPair]) -> [(positive: CrossEncoderPair, negative: CrossEncoderPair)] {
        var groups: [String: (positives: [CrossEncoderPair], negatives: [CrossEncoderPair])] = [:], order: [String] = []
        for pair in pairs {
            if groups[pair.query] == nil { order.append(pair.query) }
            if pair.relevant {
                groups[pair.query, default: ([], [])].positives.append(pair)
            } else {
                groups[pair.query, default: ([], [])].negatives.append(pair)
            }
        }
        return order.flatMap { query in
            let g = groups[query]!
            return g.positives.flatMap { p in g.negatives.map { (positive: p, negative: $0) } }
        }
    }

    /// The teacher's score of a pair, or an error naming its line: the
    /// distillation losses have nothing to learn from a pair without one.
    static func teacherScore(_ pair: CrossEncoderPair, loss: CrossEncoderLoss) throws -> Double {
        guard let score = pair.score else {
            throw TrainingError.invalidData(file: pair.file, line: pair.line,
                reason: "--loss \(loss.rawValue) needs a teacher \"score\" on every passage, this one has none (write them with `limrank teacher`)")
        }
        return score
    }

    /// Encodes pairs for `loss`: bce labels each pair 1/0, mse gives it its
    /// teacher score, margin-mse turns the pairs into `triples` whose target
    /// is the teacher's margin s(q, p) − s(q, n). `truncated` as `encode`'s.
    public static func encode(_ pairs: [CrossEncoderPair], loss: CrossEncoderLoss, tokenizer: Tokenizer, maxSequence: Int) throws
        -> (examples: [BERTTrainingExample], truncated: [CrossEncoderPair]) {
        switch loss {
        case .bce:
            return try encode(pairs, tokenizer: tokenizer, maxSequence: maxSequence)
        case .mse:
            let targets = try pairs.map { Float(try teacherScore($0, loss: loss)) }
            var (examples, truncated) = try encode(pairs, tokenizer: tokenizer, maxSequence: maxSequence)
            for i in examples.indices { examples[i].label = targets[i] }
            return (examples, truncated)
        case .marginMSE:
            for pair in pairs { _ = try teacherScore(pair, loss: loss) }
            let triples = Self.triples(pairs)
            guard !triples.isEmpty else {
                throw TrainingError.invalidParameter(name: "loss", reason: "margin-mse needs queries with both a relevant and an irrelevant passage; \(pairs.first?.file ?? "the data") has none")
            }
            // Each distinct pair is tokenized once; the triples share the encodings.
            let (encoded, truncated) = try encode(pairs, tokenizer: tokenizer, maxSequence: maxSequence)
            var byPair: [String: BERTTrainingExample] = [:]
            for (pair, example) in zip(pairs, encoded) { byPair[pair.query + "\u{0}" + pair.passage] = example }
            let examples = triples.map { t -> BERTTrainingExample in
                let p = byPair[t.positive.query + "\u{0}" + t.positive.passage]!, n = byPair[t.negative.query + "\u{0}" + t.negative.passage]!
                return BERTTrainingExample(inputIDs: p.inputIDs, tokenTypeIDs: p.tokenTypeIDs,
                                           label: Float(t.positive.score! - t.negative.score!),
                                           negative: .init(inputIDs: n.inputIDs, tokenTypeIDs: n.tokenTypeIDs))
            }
            return (examples, truncated)
        }
    }

    /// Tokenizes pairs as `[CLS] query [SEP] passage [SEP]` of at most
    /// `maxSequence` tokens. A longer pair loses the END OF ITS PASSAGE, never
    /// the query: `truncated` lists those (file, line) for a warning; a query
    /// that alone does not fit is an error naming its line.
    public static func encode(_ pairs: [CrossEncoderPair], tokenizer: Tokenizer, maxSequence: Int) throws
        -> (examples: [BERTTrainingExample], truncated: [CrossEncoderPair]) {
        let special = tokenizer.addedTokenCount(pair: true)
        guard maxSequence > special + 1 else {
            throw TrainingError.invalidParameter(name: "max-seq", reason: "must be more than \(special + 1) tokens, got \(maxSequence)")
        }
        var examples: [BERTTrainingExample] = [], truncated: [CrossEncoderPair] = []
        examples.reserveCapacity(pairs.count)
        for pair in pairs {
            let full = try tokenizer.encode(pair: pair.query, pair.passage)
            var encoding = full
            if full.count > maxSequence {
                let queryTokens = tokenizer.encode(pair.query, addSpecialTokens: false).count
                guard queryTokens + special < maxSequence else {
                    throw TrainingError.invalidData(file: pair.file, line: pair.line,
                        reason: "the query alone is \(queryTokens) tokens; with the passage it cannot fit --max-seq \(maxSequence)")
                }
                encoding = try tokenizer.encode(pair: pair.query, pair.passage, maxLength: maxSequence, truncation: .onlySecond)
                truncated.append(pair)
            }
            examples.append(BERTTrainingExample(inputIDs: encoding.ids.map { Int32($0) },
                                                tokenTypeIDs: encoding.tokenTypeIDs.map { Int32($0) },
                                                label: pair.relevant ? 1 : 0))
        }
        return (examples, truncated)
    }
}
