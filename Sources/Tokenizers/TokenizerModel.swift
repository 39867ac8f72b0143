/// Third stage: turns one pre-tokenized word into token ids.
public protocol TokenizerModel: Sendable {
    /// Appends the ids of the word `text[piece]` to `ids`.
    func tokenize(_ text: [Unicode.Scalar], _ piece: Range<Int>, into ids: inout [Int])
    func tokenID(for token: String) -> Int?
    func token(for id: Int) -> String?
    var vocabularySize: Int { get }
}

/// The model kinds, spelled like `model.type` in tokenizer.json.
public enum TokenizerModelType: String, Sendable {
    case WordPiece
    case BPE
}

public enum TokenizerModelFactory {
    public static func make(_ config: ModelConfig, byteLevel: Bool) throws -> any TokenizerModel {
        guard let kind = TokenizerModelType(rawValue: config.type) else {
            throw TokenizerError.unsupported(field: "model.type", value: config.type)
        }
        switch kind {
        case .WordPiece:
            return try WordPieceModel(
                vocab: config.vocab,
                unkToken: config.unkToken ?? "[UNK]",
                continuingSubwordPrefix: config.continuingSubwordPrefix ?? "##",
                maxInputCharsPerWord: config.maxInputCharsPerWord ?? 100)
        case .BPE:
            guard byteLevel else {
                throw TokenizerError.unsupported(field: "model.type", value: "BPE without a ByteLevel pre-tokenizer")
            }
            if config.byteFallback == true {
                throw TokenizerError.unsupported(field: "model.byte_fallback", value: "true")
            }
            if let suffix = config.endOfWordSuffix, !suffix.isEmpty {
                throw TokenizerError.unsupported(field: "model.end_of_word_suffix", value: suffix)
            }
            if let prefix = config.continuingSubwordPrefix, !prefix.isEmpty {
                throw TokenizerError.unsupported(field: "model.continuing_subword_prefix", value: prefix)
            }
            if let dropout = config.dropout, dropout > 0 {
                throw TokenizerError.unsupported(field: "model.dropout", value: "\(dropout)")
            }
            return try ByteLevelBPEModel(vocab: config.vocab, merges: config.merges, ignoreMerges: config.ignoreMerges ?? false)
        }
    }
}

/// Ids a vocabulary may leave unused below its largest: a table of ids is
/// allocated up to the largest, so one corrupted id (10^12) must be a clear
/// error rather than an allocation that kills the process.
let vocabularyHoleLimit = 1 << 16

/// Builds a `[id] -> token` table from a `token -> id` vocabulary, rejecting
/// negative, duplicate or far out-of-range ids.
func invertVocabulary(_ vocab: [String: Int], field: String) throws -> [String?] {
    let maxID = vocab.values.max() ?? -1
    if maxID >= vocab.count + vocabularyHoleLimit, let (token, id) = vocab.first(where: { $0.value == maxID }) {
        throw TokenizerError.invalidEntry(
            field: field, index: id,
            reason: "id of token '\(token)' is far beyond the vocabulary's \(vocab.count) tokens (at most \(vocabularyHoleLimit) ids may be unused)")
    }
    var tokens = [String?](repeating: nil, count: maxID + 1)
    for (token, id) in vocab {
        guard id >= 0 else {
            throw TokenizerError.invalidEntry(field: field, index: id, reason: "negative id for token '\(token)'")
        }
        if let other = tokens[id] {
            throw TokenizerError.invalidEntry(field: field, index: id, reason: "id used by both '\(other)' and '\(token)'")
        }
        tokens[id] = token
    }
    return tokens
}
