/// A retrievable unit of a collection.
public struct Document: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    public var text: String

    public init(id: String, title: String = "", text: String) {
        self.id = id
        self.title = title
        self.text = text
    }

    /// What retrievers and rerankers read: the title, when there is one, then the body.
    public var contents: String { title.isEmpty ? text : title + "\n" + text }
}

/// An information need. `instruction` carries FollowIR-style narrative
/// instructions; it is empty for collections that have none.
public struct Query: Sendable, Hashable, Codable {
    public var id: String
    public var text: String
    public var instruction: String

    public init(id: String, text: String, instruction: String = "") {
        self.id = id
        self.text = text
        self.instruction = instruction
    }
}

/// Graded relevance judgements: query id -> document id -> gain.
/// Gains follow trec_eval: > 0 is relevant, 0 or below is judged non-relevant.
public struct Qrels: Sendable, Equatable {
    public var judgements: [String: [String: Int]]

    public init(_ judgements: [String: [String: Int]] = [:]) {
        self.judgements = judgements
    }

    public subscript(query: String) -> [String: Int] {
        judgements[query] ?? [:]
    }

    public var queryIDs: [String] { judgements.keys.sorted() }
}

/// One scored candidate in a ranking.
public struct ScoredDocument: Sendable, Hashable, Codable {
    public var id: String
    public var score: Double

    public init(id: String, score: Double) {
        self.id = id
        self.score = score
    }
}

/// A system's output: query id -> candidates in rank order (best first).
public struct Run: Sendable, Equatable {
    public var rankings: [String: [ScoredDocument]]
    /// The system name written in column 6 of TREC run files.
    public var tag: String

    public init(_ rankings: [String: [ScoredDocument]] = [:], tag: String = "limrank") {
        self.rankings = rankings
        self.tag = tag
    }

    public subscript(query: String) -> [ScoredDocument] {
        get { rankings[query] ?? [] }
        set { rankings[query] = newValue }
    }

    public var queryIDs: [String] { rankings.keys.sorted() }
}
