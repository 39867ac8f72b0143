import Foundation

// Decodable mirrors of the HF `tokenizer.json` document. Property names follow
// the JSON keys; polymorphic stages keep their `type` string and the optional
// keys of every kind this library implements, so the factories can reject an
// unknown kind with the field it came from.

/// The whole `tokenizer.json` file.
public struct TokenizerJSON: Decodable, Sendable {
    public var version: String?
    public var truncation: TruncationConfig?
    public var padding: PaddingConfig?
    public var addedTokens: [AddedTokenConfig]
    public var normalizer: NormalizerConfig?
    public var preTokenizer: PreTokenizerConfig?
    public var model: ModelConfig
    public var postProcessor: PostProcessorConfig?
    public var decoder: DecoderConfig?

    enum CodingKeys: String, CodingKey {
        case version, truncation, padding, normalizer, model, decoder
        case addedTokens = "added_tokens"
        case preTokenizer = "pre_tokenizer"
        case postProcessor = "post_processor"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        truncation = try c.decodeIfPresent(TruncationConfig.self, forKey: .truncation)
        padding = try c.decodeIfPresent(PaddingConfig.self, forKey: .padding)
        addedTokens = try c.decodeIfPresent([AddedTokenConfig].self, forKey: .addedTokens) ?? []
        normalizer = try c.decodeIfPresent(NormalizerConfig.self, forKey: .normalizer)
        preTokenizer = try c.decodeIfPresent(PreTokenizerConfig.self, forKey: .preTokenizer)
        model = try c.decode(ModelConfig.self, forKey: .model)
        postProcessor = try c.decodeIfPresent(PostProcessorConfig.self, forKey: .postProcessor)
        self.decoder = try c.decodeIfPresent(DecoderConfig.self, forKey: .decoder)
    }

    /// Decodes `data`, turning decoding failures into `TokenizerError.invalidJSON`
    /// naming the offending key path.
    public static func decode(_ data: Data, file: String) throws -> TokenizerJSON {
        do {
            return try JSONDecoder().decode(TokenizerJSON.self, from: data)
        } catch let error as DecodingError {
            throw TokenizerError(error, file: file)
        }
    }
}

extension TokenizerError {
    init(_ error: DecodingError, file: String) {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case let .keyNotFound(key, context):
            let parent = path(context.codingPath)
            self = .invalidJSON(file: file, field: parent.isEmpty ? key.stringValue : parent + "." + key.stringValue,
                                reason: "missing key")
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            self = .invalidJSON(file: file, field: path(context.codingPath), reason: context.debugDescription)
        @unknown default:
            self = .invalidJSON(file: file, field: "", reason: "\(error)")
        }
    }
}

public struct TruncationConfig: Decodable, Sendable {
    public var maxLength: Int
    public var strategy: String?
    public var stride: Int?
    public var direction: String?

    enum CodingKeys: String, CodingKey {
        case strategy, stride, direction
        case maxLength = "max_length"
    }
}

public struct PaddingConfig: Decodable, Sendable {
    /// `"BatchLongest"` or `{"Fixed": n}`; `fixedLength` is n for the latter.
    public var fixedLength: Int?
    public var direction: String?
    public var padID: Int?
    public var padTypeID: Int?
    public var padToken: String?

    enum CodingKeys: String, CodingKey {
        case strategy, direction
        case padID = "pad_id"
        case padTypeID = "pad_type_id"
        case padToken = "pad_token"
    }

    private struct Fixed: Decodable { var Fixed: Int }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fixedLength = (try? c.decodeIfPresent(Fixed.self, forKey: .strategy))??.Fixed
        direction = try c.decodeIfPresent(String.self, forKey: .direction)
        padID = try c.decodeIfPresent(Int.self, forKey: .padID)
        padTypeID = try c.decodeIfPresent(Int.self, forKey: .padTypeID)
        padToken = try c.decodeIfPresent(String.self, forKey: .padToken)
    }
}

public struct AddedTokenConfig: Decodable, Sendable {
    public var id: Int
    public var content: String
    public var singleWord: Bool
    public var lstrip: Bool
    public var rstrip: Bool
    public var normalized: Bool
    public var special: Bool

    enum CodingKeys: String, CodingKey {
        case id, content, lstrip, rstrip, normalized, special
        case singleWord = "single_word"
    }

    public init(id: Int, content: String, special: Bool, singleWord: Bool = false,
                lstrip: Bool = false, rstrip: Bool = false, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        content = try c.decode(String.self, forKey: .content)
        singleWord = try c.decodeIfPresent(Bool.self, forKey: .singleWord) ?? false
        lstrip = try c.decodeIfPresent(Bool.self, forKey: .lstrip) ?? false
        rstrip = try c.decodeIfPresent(Bool.self, forKey: .rstrip) ?? false
        special = try c.decodeIfPresent(Bool.self, forKey: .special) ?? false
        normalized = try c.decodeIfPresent(Bool.self, forKey: .normalized) ?? !special
    }
}

public struct NormalizerConfig: Decodable, Sendable {
    public var type: String
    public var cleanText: Bool?
    public var handleChineseChars: Bool?
    public var stripAccents: Bool?
    public var lowercase: Bool?
    public var normalizers: [NormalizerConfig]?

    enum CodingKeys: String, CodingKey {
        case type, lowercase, normalizers
        case cleanText = "clean_text"
        case handleChineseChars = "handle_chinese_chars"
        case stripAccents = "strip_accents"
    }
}

public struct PreTokenizerConfig: Decodable, Sendable {
    public var type: String
    public var addPrefixSpace: Bool?
    public var trimOffsets: Bool?
    public var useRegex: Bool?
    public var individualDigits: Bool?
    public var pattern: SplitPattern?
    public var behavior: String?
    public var invert: Bool?
    public var pretokenizers: [PreTokenizerConfig]?

    /// `{"Regex": "..."}` or `{"String": "..."}` in a `Split` pre-tokenizer.
    public enum SplitPattern: Decodable, Sendable {
        case regex(String)
        case string(String)

        enum CodingKeys: String, CodingKey { case Regex, String }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let r = try c.decodeIfPresent(Swift.String.self, forKey: .Regex) {
                self = .regex(r)
            } else {
                self = .string(try c.decode(Swift.String.self, forKey: .String))
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, pattern, behavior, invert, pretokenizers
        case addPrefixSpace = "add_prefix_space"
        case trimOffsets = "trim_offsets"
        case useRegex = "use_regex"
        case individualDigits = "individual_digits"
    }
}

/// One BPE merge, written either `"a b"` (older files) or `["a", "b"]`.
public struct BPEMerge: Decodable, Sendable, Equatable {
    public var left: String
    public var right: String

    public init(left: String, right: String) {
        self.left = left
        self.right = right
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            guard let merge = BPEMerge(line: s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "merge '\(s)' is not two tokens separated by one space")
            }
            self = merge
        } else {
            let pair = try c.decode([String].self)
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "merge has \(pair.count) parts, expected 2")
            }
            self.init(left: pair[0], right: pair[1])
        }
    }

    /// Parses the `"a b"` form (also used by GGUF `tokenizer.ggml.merges`).
    public init?(line: String) {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(left: String(parts[0]), right: String(parts[1]))
    }
}

public struct ModelConfig: Decodable, Sendable {
    public var type: String
    public var vocab: [String: Int]
    public var merges: [BPEMerge]
    public var unkToken: String?
    public var continuingSubwordPrefix: String?
    public var endOfWordSuffix: String?
    public var maxInputCharsPerWord: Int?
    public var byteFallback: Bool?
    public var ignoreMerges: Bool?
    public var dropout: Double?

    enum CodingKeys: String, CodingKey {
        case type, vocab, merges, dropout
        case unkToken = "unk_token"
        case continuingSubwordPrefix = "continuing_subword_prefix"
        case endOfWordSuffix = "end_of_word_suffix"
        case maxInputCharsPerWord = "max_input_chars_per_word"
        case byteFallback = "byte_fallback"
        case ignoreMerges = "ignore_merges"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Files written by very old `tokenizers` versions omit `model.type`;
        // those with merges are BPE, the others WordPiece.
        let hasMerges = c.contains(.merges)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? (hasMerges ? "BPE" : "WordPiece")
        if type == "BPE" || type == "WordPiece" || type == "WordLevel" {
            vocab = try c.decode([String: Int].self, forKey: .vocab)
        } else {
            vocab = [:]
        }
        merges = type == "BPE" ? try c.decodeIfPresent([BPEMerge].self, forKey: .merges) ?? [] : []
        unkToken = try c.decodeIfPresent(String.self, forKey: .unkToken)
        continuingSubwordPrefix = try c.decodeIfPresent(String.self, forKey: .continuingSubwordPrefix)
        endOfWordSuffix = try c.decodeIfPresent(String.self, forKey: .endOfWordSuffix)
        maxInputCharsPerWord = try c.decodeIfPresent(Int.self, forKey: .maxInputCharsPerWord)
        byteFallback = try c.decodeIfPresent(Bool.self, forKey: .byteFallback)
        ignoreMerges = try c.decodeIfPresent(Bool.self, forKey: .ignoreMerges)
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
    }
}

public struct PostProcessorConfig: Decodable, Sendable {
    public var type: String
    public var single: [TemplatePiece]?
    public var pair: [TemplatePiece]?
    public var specialTokens: [String: SpecialTokenSpec]?
    public var sep: TokenAndID?
    public var cls: TokenAndID?
    public var processors: [PostProcessorConfig]?

    /// One element of a `TemplateProcessing` template.
    public enum TemplatePiece: Decodable, Sendable, Equatable {
        /// `{"SpecialToken": {"id": "[CLS]", "type_id": 0}}`
        case specialToken(id: String, typeID: Int)
        /// `{"Sequence": {"id": "A" | "B", "type_id": n}}`
        case sequence(id: String, typeID: Int)

        private struct Body: Decodable {
            var id: String
            var typeID: Int
            enum CodingKeys: String, CodingKey {
                case id
                case typeID = "type_id"
            }
        }

        enum CodingKeys: String, CodingKey { case SpecialToken, Sequence }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let b = try c.decodeIfPresent(Body.self, forKey: .SpecialToken) {
                self = .specialToken(id: b.id, typeID: b.typeID)
            } else {
                let b = try c.decode(Body.self, forKey: .Sequence)
                self = .sequence(id: b.id, typeID: b.typeID)
            }
        }
    }

    public struct SpecialTokenSpec: Decodable, Sendable {
        public var id: String
        public var ids: [Int]
        public var tokens: [String]
    }

    /// BertProcessing's `["[SEP]", 102]`.
    public struct TokenAndID: Decodable, Sendable {
        public var token: String
        public var id: Int

        public init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            token = try c.decode(String.self)
            id = try c.decode(Int.self)
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, single, pair, sep, cls, processors
        case specialTokens = "special_tokens"
    }
}

public struct DecoderConfig: Decodable, Sendable {
    public var type: String
    public var prefix: String?
    public var cleanup: Bool?
    public var addPrefixSpace: Bool?
    public var decoders: [DecoderConfig]?

    enum CodingKeys: String, CodingKey {
        case type, prefix, cleanup, decoders
        case addPrefixSpace = "add_prefix_space"
    }
}
