/// Fourth stage: wraps the model's ids in the special tokens of a single
/// sequence or a pair and assigns token type ids.
public protocol PostProcessor: Sendable {
    /// How many special tokens `process` adds (truncation leaves room for them).
    func addedTokenCount(pair: Bool) -> Int
    func process(_ a: [Int], _ b: [Int]?, addSpecialTokens: Bool) -> ProcessedSequence
}

public struct ProcessedSequence: Sendable, Equatable {
    public var ids: [Int] = []
    public var typeIDs: [Int] = []
    public var specialTokensMask: [Int] = []

    mutating func append(_ ids: [Int], type: Int, special: Bool) {
        self.ids.append(contentsOf: ids)
        typeIDs.append(contentsOf: repeatElement(type, count: ids.count))
        specialTokensMask.append(contentsOf: repeatElement(special ? 1 : 0, count: ids.count))
    }
}

/// The post-processor kinds, spelled like `post_processor.type` in tokenizer.json.
public enum PostProcessorType: String, Sendable {
    case TemplateProcessing
    case BertProcessing
    case RobertaProcessing
    case ByteLevel
}

public enum PostProcessorFactory {
    public static func make(_ config: PostProcessorConfig, field: String = "post_processor") throws -> any PostProcessor {
        guard let kind = PostProcessorType(rawValue: config.type) else {
            throw TokenizerError.unsupported(field: field + ".type", value: config.type)
        }
        switch kind {
        case .TemplateProcessing:
            let specials = config.specialTokens ?? [:]
            func resolve(_ template: [PostProcessorConfig.TemplatePiece]?, _ name: String) throws -> [TemplateProcessor.Piece] {
                try (template ?? []).map { piece in
                    switch piece {
                    case let .sequence(id, typeID):
                        guard id == "A" || id == "B" else {
                            throw TokenizerError.invalidJSON(file: "tokenizer.json", field: "\(field).\(name)", reason: "sequence id '\(id)' is neither A nor B")
                        }
                        return .sequence(second: id == "B", typeID: typeID)
                    case let .specialToken(id, typeID):
                        guard let spec = specials[id] else {
                            throw TokenizerError.tokenNotInVocabulary(field: "\(field).special_tokens", token: id)
                        }
                        return .special(ids: spec.ids, typeID: typeID)
                    }
                }
            }
            return TemplateProcessor(single: try resolve(config.single, "single"), pair: try resolve(config.pair, "pair"))
        case .BertProcessing, .RobertaProcessing:
            guard let cls = config.cls else {
                throw TokenizerError.invalidJSON(file: "tokenizer.json", field: field + ".cls", reason: "missing key")
            }
            guard let sep = config.sep else {
                throw TokenizerError.invalidJSON(file: "tokenizer.json", field: field + ".sep", reason: "missing key")
            }
            // RoBERTa: <s> A </s></s> B </s>, all type 0; BERT: [CLS] A [SEP] B [SEP], B typed 1.
            if kind == .BertProcessing {
                return TemplateProcessor(
                    single: [.special(ids: [cls.id], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep.id], typeID: 0)],
                    pair: [.special(ids: [cls.id], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep.id], typeID: 0),
                           .sequence(second: true, typeID: 1), .special(ids: [sep.id], typeID: 1)])
            }
            return TemplateProcessor(
                single: [.special(ids: [cls.id], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep.id], typeID: 0)],
                pair: [.special(ids: [cls.id], typeID: 0), .sequence(second: false, typeID: 0), .special(ids: [sep.id, sep.id], typeID: 0),
                       .sequence(second: true, typeID: 0), .special(ids: [sep.id], typeID: 0)])
        case .ByteLevel:
            // Only trims offsets, which this library does not track.
            return TemplateProcessor(single: [.sequence(second: false, typeID: 0)],
                                     pair: [.sequence(second: false, typeID: 0), .sequence(second: true, typeID: 1)])
        }
    }
}

/// HF's TemplateProcessing: special tokens and the sequences, each with a type id.
public struct TemplateProcessor: PostProcessor {
    public enum Piece: Sendable, Equatable {
        case sequence(second: Bool, typeID: Int)
        case special(ids: [Int], typeID: Int)
    }

    public var single: [Piece]
    public var pair: [Piece]

    public init(single: [Piece], pair: [Piece]) {
        self.single = single
        self.pair = pair
    }

    public func addedTokenCount(pair isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) {
            if case let .special(ids, _) = $1 { return $0 + ids.count }
            return $0
        }
    }

    public func process(_ a: [Int], _ b: [Int]?, addSpecialTokens: Bool) -> ProcessedSequence {
        var out = ProcessedSequence()
        for piece in (b == nil ? single : pair) {
            switch piece {
            case let .sequence(second, typeID):
                out.append(second ? (b ?? []) : a, type: typeID, special: false)
            case let .special(ids, typeID):
                if addSpecialTokens { out.append(ids, type: typeID, special: true) }
            }
        }
        return out
    }
}
