/// Last stage, used by `decode`: turns tokens back into text. Like HF's
/// `decode_chain`, each decoder maps tokens to tokens; the tokenizer joins them.
public protocol TokenDecoder: Sendable {
    func decodeChain(_ tokens: [String]) -> [String]
}

/// The decoder kinds, spelled like `decoder.type` in tokenizer.json.
public enum TokenDecoderType: String, Sendable {
    case WordPiece
    case ByteLevel
    case Sequence
}

public enum TokenDecoderFactory {
    public static func make(_ config: DecoderConfig, field: String = "decoder") throws -> any TokenDecoder {
        guard let kind = TokenDecoderType(rawValue: config.type) else {
            throw TokenizerError.unsupported(field: field + ".type", value: config.type)
        }
        switch kind {
        case .WordPiece:
            return WordPieceDecoder(prefix: config.prefix ?? "##", cleanup: config.cleanup ?? true)
        case .ByteLevel:
            return ByteLevelDecoder()
        case .Sequence:
            let parts = try (config.decoders ?? []).enumerated().map {
                try make($0.element, field: "\(field).decoders[\($0.offset)]")
            }
            return SequenceDecoder(decoders: parts)
        }
    }
}

/// Glues `##` continuations to the previous piece, spaces elsewhere, and
/// optionally undoes the tokenizer's spacing around punctuation.
public struct WordPieceDecoder: TokenDecoder {
    public var prefix: String
    public var cleanup: Bool

    public init(prefix: String = "##", cleanup: Bool = true) {
        self.prefix = prefix
        self.cleanup = cleanup
    }

    public func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, token in
            var t = token
            if i != 0 {
                // Scalar-wise: "##" + a combining mark is one Character, so String.hasPrefix would miss it.
                if t.unicodeScalars.starts(with: prefix.unicodeScalars) {
                    t = String(t.unicodeScalars.dropFirst(prefix.unicodeScalars.count))
                } else {
                    t = " " + t
                }
            }
            return cleanup ? Self.cleanUp(t) : t
        }
    }

    /// HF's `cleanup`: the same replacements, in the same order.
    static func cleanUp(_ s: String) -> String {
        guard s.contains(" ") else { return s }
        return s.replacingOccurrences(" .", ".")
            .replacingOccurrences(" ?", "?")
            .replacingOccurrences(" !", "!")
            .replacingOccurrences(" ,", ",")
            .replacingOccurrences(" ' ", "'")
            .replacingOccurrences(" n't", "n't")
            .replacingOccurrences(" 'm", "'m")
            .replacingOccurrences(" do not", " don't")
            .replacingOccurrences(" 's", "'s")
            .replacingOccurrences(" 've", "'ve")
            .replacingOccurrences(" 're", "'re")
    }
}

/// Maps byte-level characters back to bytes and the bytes to UTF-8 text
/// (invalid sequences become U+FFFD). A token with a character outside the
/// byte alphabet contributes its own UTF-8, as HF does.
public struct ByteLevelDecoder: TokenDecoder {
    public init() {}

    public func decodeChain(_ tokens: [String]) -> [String] {
        var bytes: [UInt8] = []
        for t in tokens {
            if let b = ByteLevelAlphabet.bytes(of: t) { bytes.append(contentsOf: b) } else { bytes.append(contentsOf: t.utf8) }
        }
        return [String(decoding: bytes, as: UTF8.self)]
    }
}

public struct SequenceDecoder: TokenDecoder {
    public var decoders: [any TokenDecoder]
    public init(decoders: [any TokenDecoder]) { self.decoders = decoders }
    public func decodeChain(_ tokens: [String]) -> [String] {
        decoders.reduce(tokens) { $1.decodeChain($0) }
    }
}

extension String {
    /// Literal replacement without Foundation's overhead for the no-match case.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}
