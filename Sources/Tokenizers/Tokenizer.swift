import Foundation

/// The ids of one encoded input, ready for a model.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int]
    /// 0 for the first sequence (and its special tokens), 1 for the second.
    public var tokenTypeIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// 1 where a special token was added by the post-processor or padding.
    public var specialTokensMask: [Int]

    public var count: Int { ids.count }

    public init(ids: [Int], tokenTypeIDs: [Int], attentionMask: [Int], specialTokensMask: [Int]) {
        self.ids = ids
        self.tokenTypeIDs = tokenTypeIDs
        self.attentionMask = attentionMask
        self.specialTokensMask = specialTokensMask
    }
}

/// Well-known special token ids; nil where the tokenizer has none.
public struct SpecialTokens: Sendable, Equatable {
    public var cls: Int?
    public var sep: Int?
    public var pad: Int?
    public var bos: Int?
    public var eos: Int?
    public var unk: Int?
    public var mask: Int?

    public init(cls: Int? = nil, sep: Int? = nil, pad: Int? = nil, bos: Int? = nil, eos: Int? = nil, unk: Int? = nil, mask: Int? = nil) {
        self.cls = cls
        self.sep = sep
        self.pad = pad
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.mask = mask
    }
}

/// Which sequence of a pair loses tokens when it is too long (HF's strategies).
public enum TruncationStrategy: Sendable {
    /// Shorten the longer one first; if both are long each gets half (HF `LongestFirst`).
    case longestFirst
    case onlyFirst
    case onlySecond
}

public enum Padding: Sendable, Equatable {
    case none
    /// To the longest encoding of the batch.
    case longest
    /// To exactly this length (longer encodings are left as they are).
    case fixed(Int)
}

/// A complete tokenizer: added tokens, normalizer, pre-tokenizer, model,
/// post-processor and decoder, as described by an HF `tokenizer.json`.
public struct Tokenizer: Sendable {
    public let normalizer: (any Normalizer)?
    public let preTokenizer: (any PreTokenizer)?
    public let model: any TokenizerModel
    public let postProcessor: (any PostProcessor)?
    public let decoder: (any TokenDecoder)?
    public let addedVocabulary: AddedVocabulary
    public var specialTokens: SpecialTokens
    /// `truncation.max_length` from the file, for callers that want HF's default.
    public let configuredMaxLength: Int?
    public var padOnLeft = false

    public init(normalizer: (any Normalizer)?, preTokenizer: (any PreTokenizer)?, model: any TokenizerModel,
                postProcessor: (any PostProcessor)?, decoder: (any TokenDecoder)?, addedTokens: [AddedTokenConfig],
                specialTokens: SpecialTokens, configuredMaxLength: Int? = nil) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedVocabulary = AddedVocabulary(addedTokens)
        self.specialTokens = specialTokens
        self.configuredMaxLength = configuredMaxLength
    }

    /// Builds every stage from a decoded tokenizer.json.
    public init(json: TokenizerJSON, tokenizerConfig: TokenizerConfigJSON? = nil) throws {
        let normalizer = try json.normalizer.map { try NormalizerFactory.make($0) }
        let preTokenizer = try json.preTokenizer.map { try PreTokenizerFactory.make($0) }
        let model = try TokenizerModelFactory.make(json.model, byteLevel: preTokenizer?.isByteLevel ?? false)
        let post = try json.postProcessor.map { try PostProcessorFactory.make($0) }
        let decoder = try json.decoder.map { try TokenDecoderFactory.make($0) }
        for (i, t) in json.addedTokens.enumerated() {
            if t.id < 0 { throw TokenizerError.invalidEntry(field: "added_tokens", index: i, reason: "negative id \(t.id)") }
            // Added tokens extend the model's vocabulary; one far beyond it is corruption.
            if t.id >= model.vocabularySize + vocabularyHoleLimit {
                throw TokenizerError.invalidEntry(
                    field: "added_tokens", index: i,
                    reason: "id \(t.id) of '\(t.content)' is far beyond the model's \(model.vocabularySize) tokens (at most \(vocabularyHoleLimit) ids may be unused)")
            }
        }
        var byContent: [String: Int] = [:]
        for t in json.addedTokens { byContent[t.content] = t.id }
        func id(_ name: String?) -> Int? {
            guard let name else { return nil }
            return byContent[name] ?? model.tokenID(for: name)
        }
        let config = tokenizerConfig
        var specials = SpecialTokens(
            cls: id(config?.clsToken ?? "[CLS]"), sep: id(config?.sepToken ?? "[SEP]"),
            pad: id(config?.padToken ?? json.padding?.padToken ?? "[PAD]"),
            bos: id(config?.bosToken), eos: id(config?.eosToken),
            unk: id(config?.unkToken ?? json.model.unkToken), mask: id(config?.maskToken ?? "[MASK]"))
        if specials.pad == nil, let padID = json.padding?.padID { specials.pad = padID }
        self.init(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: post, decoder: decoder,
                  addedTokens: json.addedTokens, specialTokens: specials, configuredMaxLength: json.truncation?.maxLength)
    }

    /// Reads a tokenizer.json file.
    public init(tokenizerJSON url: URL, tokenizerConfig: URL? = nil) throws {
        let data = try Self.read(url)
        let json = try TokenizerJSON.decode(data, file: url.lastPathComponent)
        let config = try tokenizerConfig.map { try TokenizerConfigJSON.decode(try Self.read($0), file: $0.lastPathComponent) }
        try self.init(json: json, tokenizerConfig: config)
    }

    /// A model folder: tokenizer.json, with tokenizer_config.json when present;
    /// failing that a BERT vocab.txt (lowercasing unless the config says otherwise).
    public init(directory: URL) throws {
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let config = fm.fileExists(atPath: configURL.path) ? configURL : nil
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: jsonURL.path) {
            try self.init(tokenizerJSON: jsonURL, tokenizerConfig: config)
            return
        }
        let vocabURL = directory.appendingPathComponent("vocab.txt")
        guard fm.fileExists(atPath: vocabURL.path) else {
            throw TokenizerError.unreadableFile(path: directory.path, reason: "neither tokenizer.json nor vocab.txt is there")
        }
        let lower = try config.map { try TokenizerConfigJSON.decode(try Self.read($0), file: $0.lastPathComponent).doLowerCase } ?? nil
        try self.init(vocabTXT: vocabURL, doLowerCase: lower ?? true)
    }

    /// A BERT tokenizer from `vocab.txt`, as transformers' BertTokenizer(Fast) builds it.
    public init(vocabTXT url: URL, doLowerCase: Bool = true, tokenizeChineseChars: Bool = true, stripAccents: Bool? = nil) throws {
        let data = try Self.read(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.unreadableFile(path: url.path, reason: "not UTF-8")
        }
        let model = try WordPieceModel(vocabTXT: text)
        func required(_ token: String) throws -> Int {
            guard let id = model.tokenID(for: token) else {
                throw TokenizerError.tokenNotInVocabulary(field: url.lastPathComponent, token: token)
            }
            return id
        }
        let cls = try required("[CLS]"), sep = try required("[SEP]")
        let specialNames = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        let added = specialNames.compactMap { name in
            model.tokenID(for: name).map { AddedTokenConfig(id: $0, content: name, special: true) }
        }
        self.init(
            normalizer: BertNormalizer(cleanText: true, handleChineseChars: tokenizeChineseChars,
                                       stripAccents: stripAccents ?? doLowerCase, lowercase: doLowerCase),
            preTokenizer: BertPreTokenizer(),
            model: model,
            postProcessor: TemplateProcessor(
                single: [.special(ids: [cls], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep], typeID: 0)],
                pair: [.special(ids: [cls], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep], typeID: 0),
                       .sequence(second: true, typeID: 1), .special(ids: [sep], typeID: 1)]),
            decoder: WordPieceDecoder(),
            addedTokens: added,
            specialTokens: SpecialTokens(cls: cls, sep: sep, pad: model.tokenID(for: "[PAD]"),
                                         unk: model.unkID, mask: model.tokenID(for: "[MASK]")))
    }

    static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
    }

    // MARK: Vocabulary

    public var vocabularySize: Int {
        max(model.vocabularySize, (addedVocabulary.contentByID.keys.max() ?? -1) + 1)
    }

    public func tokenID(for token: String) -> Int? {
        addedVocabulary.idByContent[token] ?? model.tokenID(for: token)
    }

    public func token(for id: Int) -> String? {
        addedVocabulary.contentByID[id] ?? model.token(for: id)
    }

    public func isSpecial(_ id: Int) -> Bool { addedVocabulary.specialIDs.contains(id) }

    // MARK: Encoding

    /// The model's ids for `text`, without special tokens or truncation.
    public func tokenize(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        // SentencePiece prefixes a space to a fragment that starts the text or follows an added token.
        var afterToken = true
        for segment in addedVocabulary.split(scalars) {
            switch segment {
            case let .token(id):
                ids.append(id)
                afterToken = true
            case let .text(range) where model is SentencePieceModel:
                let spm = model as! SentencePieceModel
                spm.tokenize(fragment: scalars[range], prefixSpace: spm.addSpacePrefix && afterToken, into: &ids)
                afterToken = false
            case let .text(range):
                var t = Array(scalars[range])
                if let normalizer { t = normalizer.normalize(t) }
                if let preTokenizer {
                    if preTokenizer.addsPrefixSpace, let first = t.first, first != " " { t.insert(" ", at: 0) }
                    for piece in preTokenizer.split(t, pieces: [0..<t.count]) { model.tokenize(t, piece, into: &ids) }
                } else if !t.isEmpty {
                    model.tokenize(t, 0..<t.count, into: &ids)
                }
            }
        }
        return ids
    }

    /// Encodes one sequence. `maxLength` counts the special tokens too.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        var ids = tokenize(text)
        if let maxLength {
            let room = max(0, maxLength - (addSpecialTokens ? addedTokenCount(pair: false) : 0))
            if ids.count > room { ids.removeSubrange(room...) }
        }
        return finish(ids, nil, addSpecialTokens: addSpecialTokens)
    }

    /// Encodes a sentence pair, e.g. `[CLS] a [SEP] b [SEP]` with type ids 0/1,
    /// truncated as HF `tokenizers` does.
    public func encode(pair a: String, _ b: String, addSpecialTokens: Bool = true, maxLength: Int? = nil,
                       truncation: TruncationStrategy = .longestFirst) throws -> Encoding {
        var first = tokenize(a)
        var second = tokenize(b)
        if let maxLength {
            let room = max(0, maxLength - (addSpecialTokens ? addedTokenCount(pair: true) : 0))
            try Self.truncate(&first, &second, to: room, strategy: truncation)
        }
        return finish(first, second, addSpecialTokens: addSpecialTokens)
    }

    /// Encodes several texts concurrently, then pads them.
    public func encode(batch texts: [String], addSpecialTokens: Bool = true, maxLength: Int? = nil,
                       padding: Padding = .longest) -> [Encoding] {
        let encodings = Self.concurrentMap(texts) { encode($0, addSpecialTokens: addSpecialTokens, maxLength: maxLength) }
        return pad(encodings, padding)
    }

    /// Encodes several pairs concurrently, then pads them.
    public func encode(batchPairs pairs: [(String, String)], addSpecialTokens: Bool = true, maxLength: Int? = nil,
                       truncation: TruncationStrategy = .longestFirst, padding: Padding = .longest) throws -> [Encoding] {
        let results = Self.concurrentMap(pairs) { p in
            Result { try encode(pair: p.0, p.1, addSpecialTokens: addSpecialTokens, maxLength: maxLength, truncation: truncation) }
        }
        return pad(try results.map { try $0.get() }, padding)
    }

    /// Pads encodings with the pad token (id 0 when the tokenizer names none).
    public func pad(_ encodings: [Encoding], _ padding: Padding) -> [Encoding] {
        let target: Int
        switch padding {
        case .none: return encodings
        case .longest: target = encodings.map(\.count).max() ?? 0
        case let .fixed(n): target = n
        }
        let padID = specialTokens.pad ?? 0
        return encodings.map { e in
            let n = target - e.count
            guard n > 0 else { return e }
            func padded(_ values: [Int], _ fill: Int) -> [Int] {
                padOnLeft ? Array(repeating: fill, count: n) + values : values + Array(repeating: fill, count: n)
            }
            return Encoding(ids: padded(e.ids, padID), tokenTypeIDs: padded(e.tokenTypeIDs, 0),
                            attentionMask: padded(e.attentionMask, 0), specialTokensMask: padded(e.specialTokensMask, 1))
        }
    }

    public func addedTokenCount(pair: Bool) -> Int { postProcessor?.addedTokenCount(pair: pair) ?? 0 }

    private func finish(_ a: [Int], _ b: [Int]?, addSpecialTokens: Bool) -> Encoding {
        let processed: ProcessedSequence
        if let postProcessor {
            processed = postProcessor.process(a, b, addSpecialTokens: addSpecialTokens)
        } else {
            var p = ProcessedSequence()
            p.append(a, type: 0, special: false)
            if let b { p.append(b, type: 1, special: false) }
            processed = p
        }
        return Encoding(ids: processed.ids, tokenTypeIDs: processed.typeIDs,
                        attentionMask: Array(repeating: 1, count: processed.ids.count),
                        specialTokensMask: processed.specialTokensMask)
    }

    /// HF `truncate_encodings` for a pair, `maxLength` excluding special tokens.
    static func truncate(_ a: inout [Int], _ b: inout [Int], to maxLength: Int, strategy: TruncationStrategy) throws {
        let total = a.count + b.count
        guard total > maxLength else { return }
        let toRemove = total - maxLength
        switch strategy {
        case .longestFirst:
            var n1 = a.count, n2 = b.count
            let swapped = n1 > n2
            if swapped { swap(&n1, &n2) }
            n2 = n1 > maxLength ? n1 : max(n1, maxLength - n1)
            if n1 + n2 > maxLength {
                n1 = maxLength / 2
                n2 = n1 + maxLength % 2
            }
            if swapped { swap(&n1, &n2) }
            if a.count > n1 { a.removeSubrange(n1...) }
            if b.count > n2 { b.removeSubrange(n2...) }
        case .onlyFirst, .onlySecond:
            let target = strategy == .onlyFirst ? a.count : b.count
            guard target > toRemove else {
                throw TokenizerError.truncationImpossible(maxLength: maxLength, sequenceLength: target, toRemove: toRemove)
            }
            if strategy == .onlyFirst { a.removeSubrange((a.count - toRemove)...) } else { b.removeSubrange((b.count - toRemove)...) }
        }
    }

    static func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], _ body: @Sendable (T) -> R) -> [R] {
        guard items.count >= 8 else { return items.map(body) }
        let slots = ResultSlots<R>(count: items.count)
        let chunks = min(items.count, ProcessInfo.processInfo.activeProcessorCount * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let lo = chunk * items.count / chunks
            let hi = (chunk + 1) * items.count / chunks
            for i in lo..<hi { slots.set(i, body(items[i])) }
        }
        return slots.values
    }

    // MARK: Decoding

    /// Text for `ids`; unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens && isSpecial(id) { return nil }
            return token(for: id)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }
}

/// The keys of `tokenizer_config.json` this library reads. Token entries are
/// either a string or an object with `content`.
public struct TokenizerConfigJSON: Decodable, Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unkToken: String?
    public var clsToken: String?
    public var sepToken: String?
    public var maskToken: String?
    public var doLowerCase: Bool?

    enum CodingKeys: String, CodingKey {
        case bosToken = "bos_token", eosToken = "eos_token", padToken = "pad_token", unkToken = "unk_token"
        case clsToken = "cls_token", sepToken = "sep_token", maskToken = "mask_token", doLowerCase = "do_lower_case"
    }

    private struct Content: Decodable { var content: String }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func token(_ key: CodingKeys) throws -> String? {
            if let s = try? c.decodeIfPresent(String.self, forKey: key) { return s }
            return try c.decodeIfPresent(Content.self, forKey: key)?.content
        }
        bosToken = try token(.bosToken)
        eosToken = try token(.eosToken)
        padToken = try token(.padToken)
        unkToken = try token(.unkToken)
        clsToken = try token(.clsToken)
        sepToken = try token(.sepToken)
        maskToken = try token(.maskToken)
        doLowerCase = try c.decodeIfPresent(Bool.self, forKey: .doLowerCase)
    }

    public static func decode(_ data: Data, file: String) throws -> TokenizerConfigJSON {
        do {
            return try JSONDecoder().decode(TokenizerConfigJSON.self, from: data)
        } catch let error as DecodingError {
            throw TokenizerError(error, file: file)
        }
    }
}

/// Write-once result slots filled from concurrent chunks; each index is
/// written by exactly one iteration, so no lock is needed.
private final class ResultSlots<R: Sendable>: @unchecked Sendable {
    // A raw buffer, not an Array property: concurrent writes to distinct
    // indices must not go through a class property's exclusive access.
    private let storage: UnsafeMutablePointer<R?>
    private let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    func set(_ i: Int, _ value: R) { storage[i] = value }
    var values: [R] { (0..<count).map { storage[$0]! } }
}
