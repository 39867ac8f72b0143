/// Every failure of the Tokenizers layer, saying what went wrong and where.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A tokenizer file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A JSON document did not have the expected shape; `field` is the key path.
    case invalidJSON(file: String, field: String, reason: String)
    /// A stage `type` (e.g. `pre_tokenizer.type = "Metaspace"`) this library does not implement.
    case unsupported(field: String, value: String)
    /// A token named in the configuration is absent from the vocabulary.
    case tokenNotInVocabulary(field: String, token: String)
    /// A vocabulary or merge entry is malformed.
    case invalidEntry(field: String, index: Int, reason: String)
    /// The requested truncation cannot leave any token of the sequence it must shorten.
    case truncationImpossible(maxLength: Int, sequenceLength: Int, toRemove: Int)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case let .invalidJSON(file, field, reason):
            return "\(file): invalid value at '\(field)': \(reason)"
        case let .unsupported(field, value):
            return "unsupported \(field) '\(value)'"
        case let .tokenNotInVocabulary(field, token):
            return "\(field): token '\(token)' is not in the vocabulary"
        case let .invalidEntry(field, index, reason):
            return "\(field)[\(index)]: \(reason)"
        case let .truncationImpossible(maxLength, length, toRemove):
            return "cannot truncate to max_length \(maxLength): the sequence to shorten has \(length) tokens, \(toRemove) must go"
        }
    }
}
