/// Building a tokenizer from the `tokenizer.ggml.*` metadata of a GGUF file,
/// without a tokenizer.json: byte-level BPE (`gpt2`) or SentencePiece (`llama`).
extension Tokenizer {
    /// GGUF `tokenizer.ggml.token_type` values.
    public enum GGUFTokenType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// The pre-tokenizer named by GGUF `tokenizer.ggml.pre`, as llama.cpp
    /// defines it. Unlisted names are rejected rather than guessed.
    public static func ggufPreTokenizer(_ name: String) throws -> any PreTokenizer {
        switch name {
        case "default", "gpt2", "gpt-2":
            return ByteLevelPreTokenizer()
        case "smollm", "starcoder", "refact", "codeshell":
            // Every digit alone, then the GPT-2 pattern.
            return SequencePreTokenizer(preTokenizers: [DigitsPreTokenizer(individualDigits: true), ByteLevelPreTokenizer()])
        case "qwen2":
            return SequencePreTokenizer(preTokenizers: [
                try SplitPreTokenizer(pattern: .regex(Self.qwen2Pattern), behavior: .Isolated, invert: false, field: "tokenizer.ggml.pre"),
                ByteLevelPreTokenizer(useRegex: false),
            ])
        case "llama3", "llama-bpe":
            return SequencePreTokenizer(preTokenizers: [
                try SplitPreTokenizer(pattern: .regex(Self.llama3Pattern), behavior: .Isolated, invert: false, field: "tokenizer.ggml.pre"),
                ByteLevelPreTokenizer(useRegex: false),
            ])
        default:
            throw TokenizerError.unsupported(field: "tokenizer.ggml.pre", value: name)
        }
    }

    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// A byte-level BPE tokenizer from GGUF metadata: `tokenizer.ggml.tokens`,
    /// `.merges` ("a b" lines), `.token_type`, `.pre`, and the special ids.
    /// Control tokens become special added tokens, user-defined ones plain
    /// added tokens, as transformers does when it converts a GGUF tokenizer.
    public init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int32], pre: String,
                bosTokenID: Int? = nil, eosTokenID: Int? = nil, unknownTokenID: Int? = nil, paddingTokenID: Int? = nil) throws {
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidEntry(field: "tokenizer.ggml.token_type", index: tokenTypes.count,
                                              reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        var parsed: [BPEMerge] = []
        parsed.reserveCapacity(merges.count)
        for (i, line) in merges.enumerated() {
            guard let m = BPEMerge(line: line) else {
                throw TokenizerError.invalidEntry(field: "tokenizer.ggml.merges", index: i, reason: "'\(line)' is not two tokens separated by one space")
            }
            parsed.append(m)
        }
        let preTokenizer = try Self.ggufPreTokenizer(pre)
        let model: ByteLevelBPEModel
        do {
            model = try ByteLevelBPEModel(vocab: vocab, merges: parsed)
        } catch let TokenizerError.tokenNotInVocabulary(field, token) {
            throw TokenizerError.tokenNotInVocabulary(field: field.replacingOccurrences("model.merges", "tokenizer.ggml.merges"), token: token)
        }
        var added: [AddedTokenConfig] = []
        for (i, type) in tokenTypes.enumerated() {
            switch GGUFTokenType(rawValue: type) {
            case .control: added.append(AddedTokenConfig(id: i, content: tokens[i], special: true))
            case .userDefined: added.append(AddedTokenConfig(id: i, content: tokens[i], special: false))
            default: break
            }
        }
        for (name, id) in [("bos", bosTokenID), ("eos", eosTokenID), ("unknown", unknownTokenID), ("padding", paddingTokenID)] {
            if let id, id < 0 || id >= tokens.count {
                throw TokenizerError.invalidEntry(field: "tokenizer.ggml.\(name)_token_id", index: id, reason: "outside the \(tokens.count)-token vocabulary")
            }
        }
        self.init(normalizer: nil, preTokenizer: preTokenizer, model: model, postProcessor: nil, decoder: ByteLevelDecoder(),
                  addedTokens: added, specialTokens: SpecialTokens(pad: paddingTokenID, bos: bosTokenID, eos: eosTokenID, unk: unknownTokenID))
    }

    /// A SentencePiece tokenizer from GGUF metadata (`tokenizer.ggml.model =
    /// "llama"`): `.tokens`, `.scores`, `.token_type`, `.add_space_prefix`,
    /// `.add_bos_token` / `.add_eos_token` and the special ids. Control and
    /// unknown tokens become special added tokens, user-defined ones plain
    /// added tokens: llama.cpp cuts all of them out of the text before the
    /// SPM merges. `encode` adds BOS / EOS as the metadata says.
    public init(ggufSentencePieceTokens tokens: [String], scores: [Float], tokenTypes: [Int32], addSpacePrefix: Bool,
                addBOS: Bool, addEOS: Bool, bosTokenID: Int? = nil, eosTokenID: Int? = nil,
                unknownTokenID: Int? = nil, paddingTokenID: Int? = nil) throws {
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidEntry(field: "tokenizer.ggml.token_type", index: tokenTypes.count,
                                              reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", bosTokenID), ("eos", eosTokenID), ("unknown", unknownTokenID), ("padding", paddingTokenID)] {
            if let id, id < 0 || id >= tokens.count {
                throw TokenizerError.invalidEntry(field: "tokenizer.ggml.\(name)_token_id", index: id, reason: "outside the \(tokens.count)-token vocabulary")
            }
        }
        for (flag, name, id) in [(addBOS, "bos", bosTokenID), (addEOS, "eos", eosTokenID)] where flag && id == nil {
            throw TokenizerError.invalidEntry(field: "tokenizer.ggml.add_\(name)_token", index: 0,
                                              reason: "is true but tokenizer.ggml.\(name)_token_id is missing")
        }
        let model = try SentencePieceModel(tokens: tokens, scores: scores, unknownID: unknownTokenID, addSpacePrefix: addSpacePrefix)
        var added: [AddedTokenConfig] = []
        for (i, type) in tokenTypes.enumerated() {
            switch GGUFTokenType(rawValue: type) {
            case .control, .unknown: added.append(AddedTokenConfig(id: i, content: tokens[i], special: true))
            case .userDefined: added.append(AddedTokenConfig(id: i, content: tokens[i], special: false))
            default: break
            }
        }
        let bos: [TemplateProcessor.Piece] = addBOS ? [.special(ids: [bosTokenID!], typeID: 0)] : []
        let eos: [TemplateProcessor.Piece] = addEOS ? [.special(ids: [eosTokenID!], typeID: 0)] : []
        let bos1: [TemplateProcessor.Piece] = addBOS ? [.special(ids: [bosTokenID!], typeID: 1)] : []
        let eos1: [TemplateProcessor.Piece] = addEOS ? [.special(ids: [eosTokenID!], typeID: 1)] : []
        // Pairs as transformers' LlamaTokenizerFast templates them: each sequence wrapped alike.
        let post = TemplateProcessor(single: bos + [.sequence(second: false, typeID: 0)] + eos,
                                     pair: bos + [.sequence(second: false, typeID: 0)] + eos + bos1 + [.sequence(second: true, typeID: 1)] + eos1)
        self.init(normalizer: nil, preTokenizer: nil, model: model, postProcessor: post,
                  decoder: SentencePieceDecoder(stripLeadingSpace: addSpacePrefix), addedTokens: added,
                  specialTokens: SpecialTokens(pad: paddingTokenID, bos: bosTokenID, eos: eosTokenID, unk: unknownTokenID))
    }
}
