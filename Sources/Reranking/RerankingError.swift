/// Everything that can go wrong while reranking, with what and where.
public enum RerankingError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyQuery(queryID: String)
    case duplicateDocument(queryID: String, documentID: String)
    case unknownDocument(queryID: String, documentID: String)
    case unknownQuery(queryID: String)
    case invalidParameter(name: String, reason: String)
    case modelOutput(model: String, reason: String)
    case backend(model: String, reason: String)

    public var description: String {
        switch self {
        case .emptyQuery(let q):
            return "query \(q) is empty"
        case .duplicateDocument(let q, let d):
            return "query \(q): document \(d) appears twice among the candidates"
        case .unknownDocument(let q, let d):
            return "query \(q): the run names document \(d), which is not in the collection"
        case .unknownQuery(let q):
            return "the run names query \(q), which is not in the collection"
        case .invalidParameter(let name, let reason):
            return "invalid \(name): \(reason)"
        case .modelOutput(let model, let reason):
            return "model \(model) gave unusable output: \(reason)"
        case .backend(let model, let reason):
            return "model \(model) failed: \(reason)"
        }
    }
}
