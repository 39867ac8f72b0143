import Foundation

/// Requests, text volume and tokens spent on an item or a run. Tokens are
/// counted exactly for requests whose backend reports them (the native
/// engine; OpenAI-compatible servers that send `usage`); the `estimated*`
/// figures (characters / 4) cover every request.
public struct SynthesisUsage: Codable, Sendable, Hashable {
    public var requests = 0
    /// Extra requests made to re-ask after unparseable answers.
    public var reasks = 0
    /// Extra requests made after the backend threw.
    public var backendRetries = 0
    public var promptCharacters = 0
    public var completionCharacters = 0
    /// Requests whose tokens the backend reported, and those tokens.
    public var countedRequests = 0
    public var promptTokens = 0
    public var completionTokens = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requests, reasks, backendRetries, promptCharacters, completionCharacters, countedRequests, promptTokens, completionTokens
    }

    /// Checkpoints written before token counting decode with zero counts.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        requests = try c.decode(Int.self, forKey: .requests)
        reasks = try c.decode(Int.self, forKey: .reasks)
        backendRetries = try c.decode(Int.self, forKey: .backendRetries)
        promptCharacters = try c.decode(Int.self, forKey: .promptCharacters)
        completionCharacters = try c.decode(Int.self, forKey: .completionCharacters)
        countedRequests = try c.decodeIfPresent(Int.self, forKey: .countedRequests) ?? 0
        promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        completionTokens = try c.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
    }

    public var estimatedPromptTokens: Int { (promptCharacters + 3) / 4 }
    public var estimatedCompletionTokens: Int { (completionCharacters + 3) / 4 }

    public static func += (lhs: inout SynthesisUsage, rhs: SynthesisUsage) {
        lhs.requests += rhs.requests
        lhs.reasks += rhs.reasks
        lhs.backendRetries += rhs.backendRetries
        lhs.promptCharacters += rhs.promptCharacters
        lhs.completionCharacters += rhs.completionCharacters
        lhs.countedRequests += rhs.countedRequests
        lhs.promptTokens += rhs.promptTokens
        lhs.completionTokens += rhs.completionTokens
    }
}

/// A passage with the judge's votes (one per sample) and, when traces are
/// on, the reasoning that explains its label.
public struct JudgedPassage: Codable, Sendable, Hashable {
    public var id: String
    public var text: String
    public var votes: [Bool]
    public var reasoning: String?
    /// Corpus mode: the collection document this passage is.
    public var documentID: String?

    public init(id: String, text: String, votes: [Bool], reasoning: String? = nil, documentID: String? = nil) {
        self.id = id
        self.text = text
        self.votes = votes
        self.reasoning = reasoning
        self.documentID = documentID
    }
}

/// A generated negative that the filters removed from an otherwise accepted example.
public struct DroppedPassage: Codable, Sendable, Hashable {
    public var text: String
    public var votes: [Bool]
    public var code: String
    public var reason: String
    /// Corpus mode: the collection document that was mined.
    public var documentID: String? = nil
}

/// One line of `examples.jsonl` (and of the working pool `pool.jsonl`).
/// The schema is documented in docs/synthesis.md.
public struct SyntheticExample: Codable, Sendable, Hashable {
    public var id: String
    /// The item index it was generated for: with the run seed, it determines
    /// the item's random choices.
    public var index: Int
    public var seed: Seed
    public var query: String
    public var instruction: String
    public var positives: [JudgedPassage]
    public var negatives: [JudgedPassage]
    public var droppedNegatives: [DroppedPassage]
    public var generatorModel: String
    public var judgeModel: String
    public var promptVersions: [String: Int]
    public var createdAt: String
    public var usage: SynthesisUsage

    /// Query text as the pointwise reranker reads it.
    public var queryWithInstruction: String {
        instruction.isEmpty ? query : query + "\n" + instruction
    }
}

/// One line of `rejected.jsonl`: an item (or a pooled example) that did not
/// make it, with the stage that stopped it and why.
public struct RejectedItem: Codable, Sendable, Hashable {
    public var id: String
    public var index: Int
    public var stage: String
    /// Machine-readable reason, counted in stats.json (e.g. "malformed-output").
    public var code: String
    /// Human-readable reason.
    public var reason: String
    public var seed: Seed
    public var query: String?
    public var generatorModel: String
    public var judgeModel: String
    public var promptVersions: [String: Int]
    public var createdAt: String
    public var usage: SynthesisUsage
    /// Corpus mode: the source document, and the mined negatives that were dropped.
    public var documentID: String? = nil
    public var droppedNegatives: [DroppedPassage]? = nil
}

/// `stats.json`.
public struct SynthesisStats: Codable, Sendable, Hashable {
    public var target: Int
    public var poolTarget: Int
    public var seed: UInt64
    public var generatorModel: String
    public var judgeModel: String
    public var promptVersions: [String: Int]
    /// Every item run, including those past the pool cutoff.
    public var itemsAttempted: Int
    /// Items at or below this index form the pool; later ones ran past the
    /// pool target while concurrent items were finishing.
    public var poolCutoffIndex: Int?
    public var poolAccepted: Int
    public var selected: Int
    public var shortfall: Int
    /// Rejections of items up to the pool cutoff, and of dedup and selection.
    public var rejectedByCode: [String: Int]
    public var selectedByDomain: [String: Int]
    public var selectedByDomainKind: [String: Int]
    public var usage: SynthesisUsage
    public var estimatedPromptTokens: Int
    public var estimatedCompletionTokens: Int
    public var finishedAt: String
    /// Corpus mode: the collection the documents came from.
    public var corpus: String? = nil
    /// Corpus mode with `validation_fraction`: queries held out into `validation/` (not in examples.jsonl).
    public var validationQueries: Int? = nil
    public var quality: QualityReport? = nil
}

enum Timestamp {
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
