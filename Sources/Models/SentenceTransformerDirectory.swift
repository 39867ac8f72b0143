import Foundation

/// sentence-transformers' pooling modes (`Pooling.POOLING_MODES`), spelled
/// as `pooling_mode` spells them.
public enum SentenceTransformerPoolingMode: String, Sendable, Hashable, CaseIterable, Codable {
    case cls, max, mean
    case meanSqrtLenTokens = "mean_sqrt_len_tokens"
    case weightedMean = "weightedmean"
    case lastToken = "lasttoken"

    /// The legacy boolean keys, in the order sentence-transformers
    /// concatenates the modes they switch on.
    public static let legacyKeys: [(key: String, mode: SentenceTransformerPoolingMode)] = [
        ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_tokens", .mean),
        ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLenTokens), ("pooling_mode_weightedmean_tokens", .weightedMean),
        ("pooling_mode_lasttoken", .lastToken),
    ]
}

/// `1_Pooling/config.json` in either generation:
/// - sentence-transformers <= 5: `word_embedding_dimension` and one boolean
///   `pooling_mode_*` key per mode (none true means mean);
/// - 6.x: `embedding_dimension` and `pooling_mode`, a mode name or a list of them.
/// Several modes are concatenated in the listed order, as upstream does.
/// `include_prompt` only matters with prompts, which LimRank never prepends.
public struct SentenceTransformerPoolingConfig: Decodable, Sendable, Hashable {
    public var embeddingDimension: Int?
    public var modes: [SentenceTransformerPoolingMode]
    public var includePrompt: Bool

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Thrown with the key and value; the loader adds the file.
    struct UnsupportedMode: Error { var key: String; var value: String }

    public init(modes: [SentenceTransformerPoolingMode], embeddingDimension: Int? = nil, includePrompt: Bool = true) {
        self.modes = modes
        self.embeddingDimension = embeddingDimension
        self.includePrompt = includePrompt
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        embeddingDimension = try c.decodeIfPresent(Int.self, forKey: Key("embedding_dimension"))
            ?? c.decodeIfPresent(Int.self, forKey: Key("word_embedding_dimension"))
        includePrompt = try c.decodeIfPresent(Bool.self, forKey: Key("include_prompt")) ?? true
        let key = Key("pooling_mode")
        if c.contains(key) {
            let names: [String]
            if let one = try? c.decode(String.self, forKey: key) { names = [one] } else { names = try c.decode([String].self, forKey: key) }
            modes = try names.map { name in
                guard let mode = SentenceTransformerPoolingMode(rawValue: name) else { throw UnsupportedMode(key: "pooling_mode", value: name) }
                return mode
            }
            if modes.isEmpty { throw UnsupportedMode(key: "pooling_mode", value: "[]") }
        } else {
            var on: [SentenceTransformerPoolingMode] = []
            for (name, mode) in SentenceTransformerPoolingMode.legacyKeys where try c.decodeIfPresent(Bool.self, forKey: Key(name)) == true {
                on.append(mode)
            }
            modes = on.isEmpty ? [.mean] : on
        }
    }

    /// Pools each sequence's token states (right-padded sequences are ranges
    /// of `states`, so every token of a range is attended). One vector of
    /// `modes.count * hiddenSize` values per sequence.
    public func pool(_ states: BERTHiddenStates) -> [[Float]] {
        let H = states.hiddenSize
        return states.sequences.map { seq in
            var out: [Float] = []
            out.reserveCapacity(modes.count * H)
            for mode in modes {
                switch mode {
                case .cls:
                    out += states.hidden[seq.lowerBound * H..<(seq.lowerBound + 1) * H]
                case .lastToken:
                    out += states.hidden[(seq.upperBound - 1) * H..<seq.upperBound * H]
                case .max:
                    var v = [Float](repeating: -.infinity, count: H)
                    for t in seq { for c in 0..<H { v[c] = Swift.max(v[c], states.hidden[t * H + c]) } }
                    out += v
                case .mean, .meanSqrtLenTokens:
                    var v = [Float](repeating: 0, count: H)
                    for t in seq { for c in 0..<H { v[c] += states.hidden[t * H + c] } }
                    let divisor = mode == .mean ? Float(seq.count) : Float(seq.count).squareRoot()
                    out += v.map { $0 / divisor }
                case .weightedMean:
                    // Weight = position + 1 within the sequence (padding sits after it).
                    var v = [Float](repeating: 0, count: H)
                    var total: Float = 0
                    for (position, t) in seq.enumerated() {
                        let w = Float(position + 1)
                        total += w
                        for c in 0..<H { v[c] += w * states.hidden[t * H + c] }
                    }
                    out += v.map { $0 / total }
                }
            }
            return out
        }
    }
}

/// `modules.json`: the module pipeline of a sentence-transformers directory.
public struct SentenceTransformerModule: Decodable, Sendable, Hashable {
    public var idx: Int?
    public var name: String?
    public var path: String
    public var type: String

    /// The class name without its module path: upstream moved the classes
    /// (`sentence_transformers.models.Pooling` became
    /// `sentence_transformers.sentence_transformer.modules.pooling.Pooling`),
    /// the class names stayed.
    public var className: String { String(type.split(separator: ".").last ?? "") }
}

/// How a sentence-transformers directory turns token states into a sentence
/// embedding: the one reader of `modules.json`, `1_Pooling/config.json` and
/// `sentence_bert_config.json`, for every path that embeds (embed, the dense
/// reranker, serve, synthesize --embedder).
///
/// A directory without `modules.json` (a plain BERT checkpoint) gets mean
/// pooling and L2 normalisation, LimRank's behaviour before this reader.
public struct SentenceTransformerDirectory: Sendable, Hashable {
    public var pooling: SentenceTransformerPoolingConfig
    /// A Normalize module follows the pooling.
    public var normalize: Bool
    /// `max_seq_length` of `sentence_bert_config.json` (<= 5.x) or the
    /// `model_max_length` of `tokenizer_config.json` (6.x), when given.
    public var maxSequenceLength: Int?

    /// The module classes a BERT sentence encoder pipeline may hold.
    public static let supportedModules: Set<String> = ["Transformer", "Pooling", "Normalize"]

    public init(pooling: SentenceTransformerPoolingConfig, normalize: Bool, maxSequenceLength: Int? = nil) {
        self.pooling = pooling
        self.normalize = normalize
        self.maxSequenceLength = maxSequenceLength
    }

    public init(directory: URL) throws {
        let fm = FileManager.default
        func decode<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T? {
            guard let data = fm.contents(atPath: url.path) else { return nil }
            do {
                return try JSONDecoder().decode(T.self, from: data)
            } catch let error as SentenceTransformerPoolingConfig.UnsupportedMode {
                throw ModelsError.unsupported(key: error.key, value: "'\(error.value)' (supported: \(SentenceTransformerPoolingMode.allCases.map(\.rawValue).joined(separator: ", ")))", file: url.path)
            } catch {
                throw ModelsError.invalidConfiguration(file: url.path, reason: "\(error)")
            }
        }
        struct SentenceBertConfig: Decodable {
            var max_seq_length: Int?
        }
        struct TokenizerConfig: Decodable {
            var model_max_length: Double?
        }
        let modulesURL = directory.appendingPathComponent("modules.json")
        let modules = try decode([SentenceTransformerModule].self, modulesURL)
        maxSequenceLength = try decode(SentenceBertConfig.self, directory.appendingPathComponent("sentence_bert_config.json"))?.max_seq_length
        if maxSequenceLength == nil, modules != nil,
           let limit = try? decode(TokenizerConfig.self, directory.appendingPathComponent("tokenizer_config.json"))?.model_max_length,
           limit >= 1, limit < 1e9 {
            // sentence-transformers 6 keeps max_seq_length here; tokenizers
            // without a limit write 1e30, which is no limit.
            maxSequenceLength = Int(limit)
        }
        guard let modules else {
            pooling = try decode(SentenceTransformerPoolingConfig.self, directory.appendingPathComponent("1_Pooling/config.json"))
                ?? SentenceTransformerPoolingConfig(modes: [.mean])
            normalize = true
            return
        }
        for module in modules where !Self.supportedModules.contains(module.className) {
            throw ModelsError.unsupported(key: "type", value: "\(module.type) (LimRank runs Transformer, Pooling and Normalize modules)", file: modulesURL.path)
        }
        guard let poolingModule = modules.first(where: { $0.className == "Pooling" }) else {
            throw ModelsError.invalidConfiguration(file: modulesURL.path, reason: "no Pooling module: LimRank cannot tell how to make one vector of the token states")
        }
        let poolingURL = directory.appendingPathComponent(poolingModule.path).appendingPathComponent("config.json")
        guard let config = try decode(SentenceTransformerPoolingConfig.self, poolingURL) else {
            throw ModelsError.missingFile(path: poolingURL.path)
        }
        pooling = config
        normalize = modules.contains { $0.className == "Normalize" }
    }

    /// Sentence embeddings of a batch: pooled, then L2-normalised when the
    /// pipeline says so (F.normalize's eps keeps an all-zero vector at zero).
    public func embed(_ model: BERTModel, _ batch: BERTBatch) throws -> [[Float]] {
        let pooled = pooling.pool(try model.encode(batch))
        guard normalize else { return pooled }
        return pooled.map { v in
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let scale = 1 / Swift.max(norm, 1e-12)
            return v.map { $0 * scale }
        }
    }
}
