import Foundation
import Models
import Tokenizers

/// One labelled (query, passage) pair and where it came from.
public struct CrossEncoderPair: Sendable, Equatable {
    public var query: String
    public var passage: String
    public var relevant: Bool
    public var file: String
    public var line: Int

    public init(query: String, passage: String, relevant: Bool, file: String, line: Int) {
        self.query = query
        self.passage = passage
        self.relevant = relevant
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
/// Every problem names `file:line`: malformed JSON, a missing field, a label
/// that is neither true nor false, an empty query or passage, a line with no
/// passage at all; a file without a single pair is an empty data set.
public enum CrossEncoderData {
    struct Passage: Decodable { var text: String }

    struct Line: Decodable {
        var query: String
        var instruction: String?
        var positives: [Passage]?
        var negatives: [Passage]?
        var passage: String?
        var label: Label?
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
                let labelled = (line.positives ?? []).map { ($0.text, true) } + (line.negatives ?? []).map { ($0.text, false) }
                guard !labelled.isEmpty else { throw bad("no passage: \"positives\" and \"negatives\" are both empty") }
                for (i, (passage, relevant)) in labelled.enumerated() {
                    guard !passage.allSatisfy(\.isWhitespace) else {
                        throw bad("empty passage text (\(relevant ? "positives" : "negatives") item \(relevant ? i : i - (line.positives?.count ?? 0)))")
                    }
                    pairs.append(CrossEncoderPair(query: query, passage: passage, relevant: relevant, file: file, line: number))
                }
            } else {
                guard let passage = line.passage else {
                    throw bad("missing field \"passage\" (or \"positives\"/\"negatives\")")
                }
                guard !passage.allSatisfy(\.isWhitespace) else { throw bad("empty passage") }
                guard let label = line.label else { throw bad("missing field \"label\"") }
                switch label {
                case let .value(relevant):
                    pairs.append(CrossEncoderPair(query: query, passage: passage, relevant: relevant, file: file, line: number))
                case let .invalid(value):
                    throw bad("label \(value) is neither true nor false")
                }
            }
        }
        guard !pairs.isEmpty else { throw TrainingError.emptyDataSet(file: file) }
        return pairs
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
