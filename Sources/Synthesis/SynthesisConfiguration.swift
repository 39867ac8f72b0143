import Foundation

/// The settings of a run, as a JSON config file spells them (snake_case keys;
/// every key optional). Command-line options override the file.
public struct SynthesisConfiguration: Decodable, Sendable, Hashable {
    /// Examples wanted in `examples.jsonl`.
    public var target = 100
    public var seed: UInt64 = 0
    public var concurrency = 4
    /// The pool generated before dedup and selection is `target * oversample`.
    public var oversample = 2.0
    /// Items tried at most, so a model that rarely passes the filters stops;
    /// 0 means `4 * pool target`.
    public var maxItems = 0
    public var positivesPerQuery = 1
    public var negativesPerQuery = 3
    /// Negatives the judge must confirm for an example to be kept.
    public var minNegatives = 1
    /// Fraction of queries that carry a FollowIR-style instruction.
    public var instructionRate = 0.3
    public var reasoningTraces = false
    /// Judge samples per passage; all must agree.
    public var judgeSamples = 3
    public var judgeTemperature = 0.7
    public var generationTemperature = 0.8
    /// Times an unparseable answer is re-asked before the item is rejected.
    public var maxReasks = 2
    /// Times a failing backend call is retried, with exponential backoff, before the run stops.
    public var backendRetries = 3
    public var backoffBaseSeconds = 0.5
    /// Items in a row with unparseable output before the run gives up on the model.
    public var maxConsecutiveMalformed = 20
    public var maxTokens = MaxTokens()
    public var queryWords = WordRange(min: 5, max: 150)
    public var passageWords = WordRange(min: 25, max: 400)
    /// "en" checks that text looks English; "any" skips the check.
    public var language = "en"
    /// Estimated Jaccard over word 3-shingles at or above which two queries
    /// (or two positives) are near duplicates.
    public var minhashThreshold = 0.6
    /// Embedding cosine at or above which two queries are near duplicates.
    public var embeddingThreshold = 0.95
    /// Word-trigram Jaccard between query and positive above which the
    /// positive merely restates the query.
    public var restatementThreshold = 0.5
    /// Share of the query's content words a hard negative must contain;
    /// a negative below it is off topic, too easy to be worth training on.
    public var negativeMinOverlap = 0.1
    public var useBuiltinSeeds = true
    public var personasFile: String?
    public var domainsFile: String?
    public var promptsDirectory: String?
    /// Sentence embeddings for dedup and selection: "hashing" (no model),
    /// "minilm" (the shipped all-MiniLM-L6-v2), or a model directory.
    public var embedder = "hashing"
    public var backend: BackendSettings?
    /// A different model for the judge stage; the generator judges when absent.
    public var judgeBackend: BackendSettings?

    // Corpus-grounded mode (`limrank synthesize --corpus`), see docs/synthesis.md.
    /// Documents with fewer words are never picked as a source or mined as a negative.
    public var corpusMinWords = 20
    /// Words of a document shown to the model (the stored positive is the whole document).
    public var corpusDocumentWords = 200
    /// LLM queries: a seed persona asks about a document only when the
    /// embedder's cosine between them reaches this; else a neutral reader does.
    public var corpusPersonaMinSimilarity = 0.2
    /// BM25 and dense top-k mined for hard negatives, each.
    public var negativeDepth = 30
    /// How likely false negatives are dropped: "dense" (score rule below),
    /// "llm" (the relevance judge votes), or "both".
    public var falseNegativeFilter = "dense"
    /// "dense": a mined negative whose query similarity exceeds this share of the
    /// positive's is dropped as a likely false negative (NV-Retriever's TopK-PercPos).
    public var falseNegativeMargin = 0.95
    /// Where corpus mode's queries come from: "llm", "title" or "ict" (`QuerySource`).
    public var querySource = "llm"
    /// Queries made per source document; absent: one for title and ict, and
    /// for llm as many as the items cycling through the documents ask for.
    public var queriesPerDocument: Int?
    /// Round-trip filter: "bm25", "dense" or a model directory; absent: off.
    public var roundTripScorer: String?
    /// The source document must be in the scorer's top k (Promptagator keeps top 1).
    public var roundTripK = 1
    /// Share of the source documents whose queries are held out as a
    /// BEIR-layout validation set (`validation/` beside examples.jsonl).
    public var validationFraction = 0.0

    public struct WordRange: Decodable, Sendable, Hashable {
        public var min: Int
        public var max: Int
        public init(min: Int, max: Int) {
            self.min = min
            self.max = max
        }
    }

    public struct MaxTokens: Decodable, Sendable, Hashable {
        public var query = 256
        public var passages = 1024
        public var judge = 256
        public var reasoning = 384
        public init() {}
        enum CodingKeys: String, CodingKey { case query, passages, judge, reasoning }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try SynthesisConfiguration.rejectUnknownKeys(decoder, known: ["query", "passages", "judge", "reasoning"])
            query = try c.decodeIfPresent(Int.self, forKey: .query) ?? query
            passages = try c.decodeIfPresent(Int.self, forKey: .passages) ?? passages
            judge = try c.decodeIfPresent(Int.self, forKey: .judge) ?? judge
            reasoning = try c.decodeIfPresent(Int.self, forKey: .reasoning) ?? reasoning
        }
    }

    /// Which model generates (and judges, unless `judge_backend` is set); the CLI's --backend options fill it too.
    public struct BackendSettings: Decodable, Sendable, Hashable {
        public var kind: String
        public var model: String?
        public var baseURL: String?
        public var apiKeyEnv: String?
        enum CodingKeys: String, CodingKey {
            case kind, model
            case baseURL = "base_url"
            case apiKeyEnv = "api_key_env"
        }
        public init(kind: String, model: String? = nil, baseURL: String? = nil, apiKeyEnv: String? = nil) {
            self.kind = kind
            self.model = model
            self.baseURL = baseURL
            self.apiKeyEnv = apiKeyEnv
        }
        public init(from decoder: Decoder) throws {
            try SynthesisConfiguration.rejectUnknownKeys(decoder, known: ["kind", "model", "base_url", "api_key_env"])
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(String.self, forKey: .kind)
            model = try c.decodeIfPresent(String.self, forKey: .model)
            baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL)
            apiKeyEnv = try c.decodeIfPresent(String.self, forKey: .apiKeyEnv)
        }
    }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case target, seed, concurrency, oversample, language, backend
        case maxItems = "max_items"
        case positivesPerQuery = "positives_per_query"
        case negativesPerQuery = "negatives_per_query"
        case minNegatives = "min_negatives"
        case instructionRate = "instruction_rate"
        case reasoningTraces = "reasoning_traces"
        case judgeSamples = "judge_samples"
        case judgeTemperature = "judge_temperature"
        case generationTemperature = "generation_temperature"
        case maxReasks = "max_reasks"
        case backendRetries = "backend_retries"
        case backoffBaseSeconds = "backoff_base_seconds"
        case maxConsecutiveMalformed = "max_consecutive_malformed"
        case maxTokens = "max_tokens"
        case queryWords = "query_words"
        case passageWords = "passage_words"
        case minhashThreshold = "minhash_threshold"
        case embeddingThreshold = "embedding_threshold"
        case restatementThreshold = "restatement_threshold"
        case negativeMinOverlap = "negative_min_overlap"
        case useBuiltinSeeds = "use_builtin_seeds"
        case personasFile = "personas_file"
        case domainsFile = "domains_file"
        case promptsDirectory = "prompts_directory"
        case judgeBackend = "judge_backend"
        case embedder
        case corpusMinWords = "corpus_min_words"
        case corpusPersonaMinSimilarity = "corpus_persona_min_similarity"
        case corpusDocumentWords = "corpus_document_words"
        case negativeDepth = "negative_depth"
        case falseNegativeFilter = "false_negative_filter"
        case falseNegativeMargin = "false_negative_margin"
        case querySource = "query_source"
        case queriesPerDocument = "queries_per_document"
        case roundTripScorer = "round_trip_scorer"
        case roundTripK = "round_trip_k"
        case validationFraction = "validation_fraction"
    }

    public init(from decoder: Decoder) throws {
        try Self.rejectUnknownKeys(decoder, known: Set(CodingKeys.allCases.map(\.rawValue)))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        target = try get(.target, target)
        seed = try get(.seed, seed)
        concurrency = try get(.concurrency, concurrency)
        oversample = try get(.oversample, oversample)
        maxItems = try get(.maxItems, maxItems)
        positivesPerQuery = try get(.positivesPerQuery, positivesPerQuery)
        negativesPerQuery = try get(.negativesPerQuery, negativesPerQuery)
        minNegatives = try get(.minNegatives, minNegatives)
        instructionRate = try get(.instructionRate, instructionRate)
        reasoningTraces = try get(.reasoningTraces, reasoningTraces)
        judgeSamples = try get(.judgeSamples, judgeSamples)
        judgeTemperature = try get(.judgeTemperature, judgeTemperature)
        generationTemperature = try get(.generationTemperature, generationTemperature)
        maxReasks = try get(.maxReasks, maxReasks)
        backendRetries = try get(.backendRetries, backendRetries)
        backoffBaseSeconds = try get(.backoffBaseSeconds, backoffBaseSeconds)
        maxConsecutiveMalformed = try get(.maxConsecutiveMalformed, maxConsecutiveMalformed)
        maxTokens = try get(.maxTokens, maxTokens)
        queryWords = try get(.queryWords, queryWords)
        passageWords = try get(.passageWords, passageWords)
        language = try get(.language, language)
        minhashThreshold = try get(.minhashThreshold, minhashThreshold)
        embeddingThreshold = try get(.embeddingThreshold, embeddingThreshold)
        restatementThreshold = try get(.restatementThreshold, restatementThreshold)
        negativeMinOverlap = try get(.negativeMinOverlap, negativeMinOverlap)
        useBuiltinSeeds = try get(.useBuiltinSeeds, useBuiltinSeeds)
        personasFile = try c.decodeIfPresent(String.self, forKey: .personasFile)
        domainsFile = try c.decodeIfPresent(String.self, forKey: .domainsFile)
        promptsDirectory = try c.decodeIfPresent(String.self, forKey: .promptsDirectory)
        backend = try c.decodeIfPresent(BackendSettings.self, forKey: .backend)
        judgeBackend = try c.decodeIfPresent(BackendSettings.self, forKey: .judgeBackend)
        embedder = try get(.embedder, embedder)
        corpusMinWords = try get(.corpusMinWords, corpusMinWords)
        corpusPersonaMinSimilarity = try get(.corpusPersonaMinSimilarity, corpusPersonaMinSimilarity)
        corpusDocumentWords = try get(.corpusDocumentWords, corpusDocumentWords)
        negativeDepth = try get(.negativeDepth, negativeDepth)
        falseNegativeFilter = try get(.falseNegativeFilter, falseNegativeFilter)
        falseNegativeMargin = try get(.falseNegativeMargin, falseNegativeMargin)
        querySource = try get(.querySource, querySource)
        queriesPerDocument = try c.decodeIfPresent(Int.self, forKey: .queriesPerDocument)
        roundTripScorer = try c.decodeIfPresent(String.self, forKey: .roundTripScorer)
        roundTripK = try get(.roundTripK, roundTripK)
        validationFraction = try get(.validationFraction, validationFraction)
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A misspelt key would otherwise be silently ignored.
    static func rejectUnknownKeys(_ decoder: Decoder, known: Set<String>) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// Reads a config file; relative paths in it are resolved against its folder.
    public static func load(_ url: URL) throws -> SynthesisConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SynthesisError.invalidConfig(file: url.path, field: "", reason: "cannot read: \(error.localizedDescription)")
        }
        var config: SynthesisConfiguration
        do {
            config = try JSONDecoder().decode(SynthesisConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw Self.configError(error, file: url.path)
        }
        let base = url.deletingLastPathComponent()
        func resolve(_ path: String?) -> String? {
            guard let path, !path.hasPrefix("/") else { return path }
            return base.appendingPathComponent(path).path
        }
        config.personasFile = resolve(config.personasFile)
        config.domainsFile = resolve(config.domainsFile)
        config.promptsDirectory = resolve(config.promptsDirectory)
        try config.validate(file: url.path)
        return config
    }

    static func configError(_ error: DecodingError, file: String) -> SynthesisError {
        func path(_ context: DecodingError.Context, _ extra: CodingKey? = nil) -> String {
            (context.codingPath + (extra.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .invalidConfig(file: file, field: path(context, key), reason: "missing")
        case .typeMismatch(let type, let context):
            return .invalidConfig(file: file, field: path(context), reason: "expected \(type)")
        case .valueNotFound(let type, let context):
            return .invalidConfig(file: file, field: path(context), reason: "expected \(type), found null")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = (context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription
                return .invalidConfig(file: file, field: "", reason: "not valid JSON: \(detail)")
            }
            return .invalidConfig(file: file, field: path(context), reason: context.debugDescription)
        @unknown default:
            return .invalidConfig(file: file, field: "", reason: String(describing: error))
        }
    }

    /// Range checks; `file` names the source in errors ("command line" when none).
    public func validate(file: String = "configuration") throws {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw SynthesisError.invalidConfig(file: file, field: field, reason: reason) }
        }
        try check(target >= 1, "target", "must be at least 1")
        try check(concurrency >= 1, "concurrency", "must be at least 1")
        try check(oversample >= 1, "oversample", "must be at least 1")
        try check(maxItems >= 0, "max_items", "must not be negative")
        try check(positivesPerQuery >= 1, "positives_per_query", "must be at least 1")
        try check(negativesPerQuery >= 1, "negatives_per_query", "must be at least 1")
        try check((1...negativesPerQuery).contains(minNegatives), "min_negatives", "must be between 1 and negatives_per_query")
        try check((0...1).contains(instructionRate), "instruction_rate", "must be between 0 and 1")
        try check(judgeSamples >= 1, "judge_samples", "must be at least 1")
        try check(judgeTemperature >= 0 && generationTemperature >= 0, "temperature", "must not be negative")
        try check(maxReasks >= 0, "max_reasks", "must not be negative")
        try check(backendRetries >= 0, "backend_retries", "must not be negative")
        try check(backoffBaseSeconds >= 0, "backoff_base_seconds", "must not be negative")
        try check(maxConsecutiveMalformed >= 1, "max_consecutive_malformed", "must be at least 1")
        try check(queryWords.min >= 1 && queryWords.max >= queryWords.min, "query_words", "needs 1 <= min <= max")
        try check(passageWords.min >= 1 && passageWords.max >= passageWords.min, "passage_words", "needs 1 <= min <= max")
        try check(["en", "any"].contains(language), "language", "must be \"en\" or \"any\"")
        try check((0...1).contains(minhashThreshold), "minhash_threshold", "must be between 0 and 1")
        try check((-1...1).contains(embeddingThreshold), "embedding_threshold", "must be between -1 and 1")
        try check((0...1).contains(restatementThreshold), "restatement_threshold", "must be between 0 and 1")
        try check((0...1).contains(negativeMinOverlap), "negative_min_overlap", "must be between 0 and 1")
        try check(useBuiltinSeeds || (personasFile != nil && domainsFile != nil), "use_builtin_seeds", "false needs personas_file and domains_file")
        try check(corpusMinWords >= 1, "corpus_min_words", "must be at least 1")
        try check((-1...1).contains(corpusPersonaMinSimilarity), "corpus_persona_min_similarity", "must be a cosine, between -1 and 1")
        try check(corpusDocumentWords >= 1, "corpus_document_words", "must be at least 1")
        try check(negativeDepth >= 1, "negative_depth", "must be at least 1")
        try check(["dense", "llm", "both"].contains(falseNegativeFilter), "false_negative_filter", "must be \"dense\", \"llm\" or \"both\"")
        try check(falseNegativeMargin > 0 && falseNegativeMargin <= 1, "false_negative_margin", "must be in (0, 1]")
        try check(QuerySource(rawValue: querySource) != nil, "query_source", "unknown source \"\(querySource)\" (choose: \(QuerySource.names))")
        if let queriesPerDocument {
            try check(queriesPerDocument >= 1, "queries_per_document", "must be at least 1, got \(queriesPerDocument)")
            if let limit = source.perDocumentLimit {
                try check(queriesPerDocument <= limit, "queries_per_document", "query_source \(querySource) gives at most \(limit) per document, got \(queriesPerDocument)")
            }
        }
        try check(roundTripK >= 1, "round_trip_k", "must be at least 1, got \(roundTripK)")
        if let roundTripScorer { try check(!roundTripScorer.isEmpty, "round_trip_scorer", "must be bm25, dense or a model directory") }
        try check(validationFraction >= 0 && validationFraction < 1, "validation_fraction", "must be in [0, 1), got \(validationFraction)")
        let tokens = [maxTokens.query, maxTokens.passages, maxTokens.judge, maxTokens.reasoning]
        try check(tokens.allSatisfy { $0 >= 1 }, "max_tokens", "every entry must be at least 1")
    }

    /// Model-free sources make every query from its document, so there is
    /// nothing to oversample and select among: the pool is the target.
    public var poolTarget: Int { source == .llm ? Int((Double(target) * oversample).rounded(.up)) : target }

    /// `querySource` parsed (validate() has checked it; llm when it is unknown).
    public var source: QuerySource { QuerySource(rawValue: querySource) ?? .llm }

    /// Queries per document this run makes at most; nil: no limit (llm's default).
    public var queriesPerDocumentLimit: Int? { queriesPerDocument ?? (source == .llm ? nil : 1) }
    public var effectiveMaxItems: Int { maxItems > 0 ? maxItems : 4 * poolTarget }

    /// The seed set: built-ins (unless turned off) plus the files named.
    public func seedSet() throws -> SeedSet {
        let builtIn = SeedSet.builtIn
        var personas = useBuiltinSeeds ? builtIn.personas : []
        var domains = useBuiltinSeeds ? builtIn.domains : []
        if let personasFile { personas += try SeedSet.readPersonas(URL(fileURLWithPath: personasFile)) }
        if let domainsFile { domains += try SeedSet.readDomains(URL(fileURLWithPath: domainsFile)) }
        return try SeedSet(personas: personas, domains: domains)
    }
}
