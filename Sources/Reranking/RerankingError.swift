/// Everything that can go wrong while reranking, with what and where.
public enum RerankingError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyQuery(queryID: String)
    case duplicateDocument(queryID: String, documentID: String)
    case unknownDocument(queryID: String, documentID: String)
    case unknownQuery(queryID: String)
    case invalidParameter(name: String, reason: String)
    case modelOutput(model: String, reason: String)
    case backend(model: String, reason: String)
    /// Some queries could not be reranked (their requests failed after
    /// retries); the others finished, and what was scored is cached.
    case queriesFailed(queryIDs: [String], total: Int, firstError: String)

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
        case .queriesFailed(let ids, let total, let first):
            return "\(ids.count) of \(total) queries failed: " + ids.prefix(20).joined(separator: ", ")
                + (ids.count > 20 ? ", ..." : "") + "; first error: \(first). The other queries finished and every "
                + "judgement made is in the ranking cache: run the same command again to score only what is missing"
        }
    }
}
