/// Everything that can be wrong with a collection, a run or a qrels file.
/// Each case names the file and, where there is one, the 1-based line, so that
/// a message always points at the place to fix.
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    case invalidUTF8(file: String, line: Int)
    /// A line that does not have the shape its format requires.
    case malformed(file: String, line: Int, reason: String)
    /// A JSONL line that does not parse; a cut-off last line lands here too.
    case invalidJSON(file: String, line: Int, reason: String)
    case missingField(file: String, line: Int, field: String)
    case emptyQuery(file: String, line: Int, id: String)
    case duplicateID(file: String, line: Int, id: String, firstLine: Int)
    case duplicateJudgement(file: String, line: Int, query: String, document: String)
    case duplicateRunEntry(file: String, line: Int, query: String, document: String)
    /// A run line whose query is not one of the collection's queries.
    case unknownQuery(file: String, line: Int, id: String)
    /// A file that holds no records of the kind it must provide.
    case empty(file: String, what: String)
    case unknownSubset(directory: String, name: String, available: [String])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): file not found"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .invalidUTF8(let file, let line):
            return "\(file):\(line): invalid UTF-8"
        case .malformed(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .invalidJSON(let file, let line, let reason):
            return "\(file):\(line): invalid or truncated JSON: \(reason)"
        case .missingField(let file, let line, let field):
            return "\(file):\(line): missing field \"\(field)\""
        case .emptyQuery(let file, let line, let id):
            return "\(file):\(line): query \(id) has no text"
        case .duplicateID(let file, let line, let id, let firstLine):
            return "\(file):\(line): duplicate id \(id) (first seen on line \(firstLine))"
        case .duplicateJudgement(let file, let line, let query, let document):
            return "\(file):\(line): query \(query) judges document \(document) twice"
        case .duplicateRunEntry(let file, let line, let query, let document):
            return "\(file):\(line): query \(query) lists document \(document) twice"
        case .unknownQuery(let file, let line, let id):
            return "\(file):\(line): query \(id) is not a query of this collection"
        case .empty(let file, let what):
            return "\(file): no \(what)"
        case .unknownSubset(let directory, let name, let available):
            let list = available.isEmpty ? "none found" : available.joined(separator: ", ")
            return "\(directory): no subset \(name) (available: \(list))"
        case .writeFailed(let path, let reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}

/// Something suspicious that does not make results wrong (an empty document
/// can simply never be retrieved); loaders collect these and the CLI prints
/// them on stderr.
public struct DatasetWarning: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "warning: \(file):\(line): \(message)" }
        return "warning: \(file): \(message)"
    }
}
