/// Everything that can go wrong in the Retrieval target, saying what and where.
public enum RetrievalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The index file could not be read or written at all.
    case indexFileUnreadable(file: String, reason: String)
    case indexFileUnwritable(file: String, reason: String)
    /// The file is not a LimRank BM25 index (wrong magic bytes).
    case notAnIndex(file: String)
    /// Written by another format version; rebuild it with `limrank index`.
    case unsupportedIndexVersion(file: String, found: UInt32, supported: UInt32)
    /// Built with another text analysis than this build's.
    case analyzerMismatch(file: String, found: String, expected: String)
    /// Shorter or longer than its header says.
    case truncatedIndex(file: String, expectedBytes: Int, actualBytes: Int)
    case checksumMismatch(file: String, stored: UInt64, computed: UInt64)
    /// Structurally inconsistent content: `field` names the section.
    case corruptIndex(file: String, field: String, reason: String)
    case invalidParameter(name: String, value: Double, reason: String)

    public var description: String {
        switch self {
        case let .indexFileUnreadable(file, reason):
            return "\(file): cannot read the BM25 index: \(reason)"
        case let .indexFileUnwritable(file, reason):
            return "\(file): cannot write the BM25 index: \(reason)"
        case let .notAnIndex(file):
            return "\(file): not a LimRank BM25 index (bad magic bytes)"
        case let .unsupportedIndexVersion(file, found, supported):
            return "\(file): BM25 index format version \(found) is not supported (this build reads version \(supported)); rebuild it with `limrank index`"
        case let .analyzerMismatch(file, found, expected):
            return "\(file): BM25 index was built with analyzer \"\(found)\", this build uses \"\(expected)\"; rebuild it with `limrank index`"
        case let .truncatedIndex(file, expected, actual):
            return "\(file): BM25 index is truncated or has trailing bytes: header says \(expected) bytes, file has \(actual)"
        case let .checksumMismatch(file, stored, computed):
            return "\(file): BM25 index is corrupt: checksum \(String(stored, radix: 16)) stored, \(String(computed, radix: 16)) computed"
        case let .corruptIndex(file, field, reason):
            return "\(file): BM25 index is corrupt in \(field): \(reason)"
        case let .invalidParameter(name, value, reason):
            return "BM25 parameter \(name) = \(value): \(reason)"
        }
    }
}
