import Foundation

/// Second stage: cuts normalized text into the words the model sees.
/// Pieces are ranges of scalar offsets into the normalized text, so splitting
/// allocates no substrings.
public protocol PreTokenizer: Sendable {
    func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>]
    /// GPT-2/RoBERTa `add_prefix_space`: a space is put before text that does not start with one.
    var addsPrefixSpace: Bool { get }
    /// Whether words are mapped to byte-level characters (the BPE model then works on raw bytes).
    var isByteLevel: Bool { get }
}

extension PreTokenizer {
    public var addsPrefixSpace: Bool { false }
    public var isByteLevel: Bool { false }
}

/// The pre-tokenizer kinds, spelled like `pre_tokenizer.type` in tokenizer.json.
public enum PreTokenizerType: String, Sendable {
    case BertPreTokenizer
    case ByteLevel
    case Digits
    case Split
    case Sequence
}

public enum PreTokenizerFactory {
    public static func make(_ config: PreTokenizerConfig, field: String = "pre_tokenizer") throws -> any PreTokenizer {
        guard let kind = PreTokenizerType(rawValue: config.type) else {
            throw TokenizerError.unsupported(field: field + ".type", value: config.type)
        }
        switch kind {
        case .BertPreTokenizer:
            return BertPreTokenizer()
        case .ByteLevel:
            return ByteLevelPreTokenizer(addPrefixSpace: config.addPrefixSpace ?? false, useRegex: config.useRegex ?? true)
        case .Digits:
            return DigitsPreTokenizer(individualDigits: config.individualDigits ?? false)
        case .Split:
            guard let pattern = config.pattern else {
                throw TokenizerError.invalidJSON(file: "tokenizer.json", field: field + ".pattern", reason: "missing key")
            }
            let behaviorName = config.behavior ?? "Isolated"
            guard let behavior = SplitPreTokenizer.Behavior(rawValue: behaviorName) else {
                throw TokenizerError.unsupported(field: field + ".behavior", value: behaviorName)
            }
            return try SplitPreTokenizer(pattern: pattern, behavior: behavior, invert: config.invert ?? false, field: field)
        case .Sequence:
            let parts = try (config.pretokenizers ?? []).enumerated().map {
                try make($0.element, field: "\(field).pretokenizers[\($0.offset)]")
            }
            return SequencePreTokenizer(preTokenizers: parts)
        }
    }
}

/// Splits on whitespace (dropped) and isolates every punctuation character,
/// with HF's character tables.
public struct BertPreTokenizer: PreTokenizer {
    public init() {}

    public func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(pieces.count * 4)
        for piece in pieces {
            var start = piece.lowerBound
            for i in piece {
                let v = text[i].value
                if Self.isWhitespace(v) {
                    if start < i { out.append(start..<i) }
                    start = i + 1
                } else if Self.isPunctuation(v) {
                    if start < i { out.append(start..<i) }
                    out.append(i..<(i + 1))
                    start = i + 1
                }
            }
            if start < piece.upperBound { out.append(start..<piece.upperBound) }
        }
        return out
    }

    static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return UnicodeRanges.contains(BertUnicodeTables.whitespace, v)
    }

    static func isPunctuation(_ v: UInt32) -> Bool {
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
        }
        return UnicodeRanges.contains(BertUnicodeTables.punctuation, v)
    }
}

/// Isolates numeric characters (Nd, Nl, No), one by one or in runs.
public struct DigitsPreTokenizer: PreTokenizer {
    public var individualDigits: Bool
    public init(individualDigits: Bool) { self.individualDigits = individualDigits }

    public func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(pieces.count)
        for piece in pieces {
            var start = piece.lowerBound
            var i = piece.lowerBound
            while i < piece.upperBound {
                guard ScalarClass.of(text[i]) == .number else { i += 1; continue }
                if start < i { out.append(start..<i) }
                var end = i + 1
                if !individualDigits {
                    while end < piece.upperBound, ScalarClass.of(text[end]) == .number { end += 1 }
                }
                out.append(i..<end)
                start = end
                i = end
            }
            if start < piece.upperBound { out.append(start..<piece.upperBound) }
        }
        return out
    }
}

/// `Split` with a regex or literal pattern, via NSRegularExpression. Slower
/// than the hand-written scanners; used for patterns they do not cover.
public struct SplitPreTokenizer: PreTokenizer, @unchecked Sendable {
    // NSRegularExpression is immutable and documented thread-safe.
    public enum Behavior: String, Sendable {
        case Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous
    }

    let regex: NSRegularExpression
    public let behavior: Behavior
    public let invert: Bool

    public init(pattern: PreTokenizerConfig.SplitPattern, behavior: Behavior, invert: Bool, field: String = "pre_tokenizer") throws {
        let source: String
        switch pattern {
        case let .regex(r): source = r
        case let .string(s): source = NSRegularExpression.escapedPattern(for: s)
        }
        do {
            regex = try NSRegularExpression(pattern: source)
        } catch {
            throw TokenizerError.invalidJSON(file: "tokenizer.json", field: field + ".pattern", reason: "regex does not compile: \(error)")
        }
        self.behavior = behavior
        self.invert = invert
    }

    public func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for piece in pieces {
            // UTF-16 offset -> scalar offset, to map NSRange results back.
            var utf16ToScalar: [Int] = []
            utf16ToScalar.reserveCapacity(piece.count * 2 + 1)
            for i in piece {
                utf16ToScalar.append(i)
                if text[i].value > 0xFFFF { utf16ToScalar.append(i) }
            }
            utf16ToScalar.append(piece.upperBound)
            let s = UnicodeText.string(text[piece])
            var segments: [(range: Range<Int>, isMatch: Bool)] = []
            var last = piece.lowerBound
            for m in regex.matches(in: s, range: NSRange(location: 0, length: (s as NSString).length)) {
                let lo = utf16ToScalar[m.range.location]
                let hi = utf16ToScalar[m.range.location + m.range.length]
                if lo == hi { continue }
                if last < lo { segments.append((last..<lo, invert)) }
                segments.append((lo..<hi, !invert))
                last = hi
            }
            if last < piece.upperBound { segments.append((last..<piece.upperBound, invert)) }
            out.append(contentsOf: Self.apply(behavior, segments))
        }
        return out
    }

    static func apply(_ behavior: Behavior, _ segments: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch behavior {
        case .Removed:
            out = segments.filter { !$0.isMatch }.map(\.range)
        case .Isolated:
            out = segments.map(\.range)
        case .MergedWithPrevious:
            var previousWasMatch = false
            for seg in segments {
                if seg.isMatch, let prev = out.last, !previousWasMatch {
                    out[out.count - 1] = prev.lowerBound..<seg.range.upperBound
                } else {
                    out.append(seg.range)
                }
                previousWasMatch = seg.isMatch
            }
        case .MergedWithNext:
            // The mirror image of MergedWithPrevious: walk backwards.
            var nextWasMatch = false
            for seg in segments.reversed() {
                if seg.isMatch, let next = out.last, !nextWasMatch {
                    out[out.count - 1] = seg.range.lowerBound..<next.upperBound
                } else {
                    out.append(seg.range)
                }
                nextWasMatch = seg.isMatch
            }
            out.reverse()
        case .Contiguous:
            var previousWasMatch = false
            for seg in segments {
                if seg.isMatch, previousWasMatch, let prev = out.last {
                    out[out.count - 1] = prev.lowerBound..<seg.range.upperBound
                } else {
                    out.append(seg.range)
                }
                previousWasMatch = seg.isMatch
            }
        }
        return out
    }
}

public struct SequencePreTokenizer: PreTokenizer {
    public var preTokenizers: [any PreTokenizer]
    public init(preTokenizers: [any PreTokenizer]) { self.preTokenizers = preTokenizers }

    public func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>] {
        preTokenizers.reduce(pieces) { $1.split(text, pieces: $0) }
    }

    public var addsPrefixSpace: Bool { preTokenizers.contains { $0.addsPrefixSpace } }
    public var isByteLevel: Bool { preTokenizers.contains { $0.isByteLevel } }
}

/// The character classes the GPT-2 style patterns use.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    static func of(_ s: Unicode.Scalar) -> ScalarClass {
        let v = s.value
        if v < 0x80 {
            if (v >= 0x61 && v <= 0x7A) || (v >= 0x41 && v <= 0x5A) { return .letter }
            if v >= 0x30 && v <= 0x39 { return .number }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .whitespace }
            return .other
        }
        let p = s.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return p.isWhitespace ? .whitespace : .other
        }
    }
}
