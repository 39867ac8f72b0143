import Foundation

/// First stage: rewrites the text before it is split into words.
/// Works on unicode scalars so the hot path never builds per-character Strings.
public protocol Normalizer: Sendable {
    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar]
}

/// The normalizer kinds, spelled like `normalizer.type` in tokenizer.json.
public enum NormalizerType: String, Sendable {
    case BertNormalizer
    case Lowercase
    case StripAccents
    case NFD, NFC, NFKD, NFKC
    case Sequence
}

public enum NormalizerFactory {
    public static func make(_ config: NormalizerConfig, field: String = "normalizer") throws -> any Normalizer {
        guard let kind = NormalizerType(rawValue: config.type) else {
            throw TokenizerError.unsupported(field: field + ".type", value: config.type)
        }
        switch kind {
        case .BertNormalizer:
            let lowercase = config.lowercase ?? true
            return BertNormalizer(
                cleanText: config.cleanText ?? true,
                handleChineseChars: config.handleChineseChars ?? true,
                stripAccents: config.stripAccents ?? lowercase,
                lowercase: lowercase)
        case .Lowercase: return LowercaseNormalizer()
        case .StripAccents: return StripAccentsNormalizer()
        case .NFD: return UnicodeFormNormalizer(form: .nfd)
        case .NFC: return UnicodeFormNormalizer(form: .nfc)
        case .NFKD: return UnicodeFormNormalizer(form: .nfkd)
        case .NFKC: return UnicodeFormNormalizer(form: .nfkc)
        case .Sequence:
            let parts = try (config.normalizers ?? []).enumerated().map {
                try make($0.element, field: "\(field).normalizers[\($0.offset)]")
            }
            return SequenceNormalizer(normalizers: parts)
        }
    }
}

/// BERT's normalizer: control-character removal, CJK spacing, accent
/// stripping, lowercasing, in that order (as HF applies them). Character
/// classes come from `BertUnicodeTables`, probed from HF itself.
public struct BertNormalizer: Normalizer {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    public var stripAccents: Bool
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool = true, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 8)
        let space: Unicode.Scalar = " "
        for s in text {
            let v = s.value
            if cleanText {
                if v < 0x80 {
                    // ASCII: controls other than \t \n \r vanish; those three become spaces.
                    if v == 0x09 || v == 0x0A || v == 0x0D { out.append(space); continue }
                    if v < 0x20 || v == 0x7F { continue }
                } else {
                    if UnicodeRanges.contains(BertUnicodeTables.removedByCleanText, v) { continue }
                    if UnicodeRanges.contains(BertUnicodeTables.whitespace, v) { out.append(space); continue }
                }
            }
            if handleChineseChars, v >= 0x3400, UnicodeRanges.contains(BertUnicodeTables.chinese, v) {
                out.append(space)
                out.append(s)
                out.append(space)
                continue
            }
            out.append(s)
        }
        if stripAccents { out = Self.stripAccents(out) }
        if lowercase { out = UnicodeText.lowercased(out) }
        return out
    }

    /// NFD, then drop the nonspacing marks HF's tables know.
    static func stripAccents(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { $0.value >= 0xC0 }) else { return text }
        return UnicodeText.nfd(text).filter {
            $0.value < 0x300 || !UnicodeRanges.contains(BertUnicodeTables.nonspacingMark, $0.value)
        }
    }
}

public struct LowercaseNormalizer: Normalizer {
    public init() {}
    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] { UnicodeText.lowercased(text) }
}

public struct StripAccentsNormalizer: Normalizer {
    public init() {}
    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // HF's StripAccents removes nonspacing marks without decomposing first.
        text.filter { $0.value < 0x300 || !UnicodeRanges.contains(BertUnicodeTables.nonspacingMark, $0.value) }
    }
}

public struct UnicodeFormNormalizer: Normalizer {
    public enum Form: Sendable { case nfd, nfc, nfkd, nfkc }
    public var form: Form
    public init(form: Form) { self.form = form }

    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { $0.value >= 0x80 }) else { return text }
        let s = UnicodeText.string(text)
        let n: String
        switch form {
        case .nfd: n = s.decomposedStringWithCanonicalMapping
        case .nfc: n = s.precomposedStringWithCanonicalMapping
        case .nfkd: n = s.decomposedStringWithCompatibilityMapping
        case .nfkc: n = s.precomposedStringWithCompatibilityMapping
        }
        return Array(n.unicodeScalars)
    }
}

public struct SequenceNormalizer: Normalizer {
    public var normalizers: [any Normalizer]
    public init(normalizers: [any Normalizer]) { self.normalizers = normalizers }
    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        normalizers.reduce(text) { $1.normalize($0) }
    }
}

/// Scalar-array helpers shared by the stages.
enum UnicodeText {
    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func nfd(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        Array(string(text).decomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Per-scalar full lowercase mapping, as Rust's `char::to_lowercase` (no
    /// context-dependent final sigma).
    static func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for s in text {
            let v = s.value
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(UInt8(v + 0x20)) : s)
            } else if s.properties.changesWhenLowercased {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(s)
            }
        }
        return out
    }
}

/// Membership in a flattened, sorted `[first, last, first, last, ...]` table.
enum UnicodeRanges {
    static func contains(_ table: [UInt32], _ v: UInt32) -> Bool {
        var lo = 0
        var hi = table.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if table[2 * mid + 1] < v {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        return lo < table.count / 2 && table[2 * lo] <= v
    }
}
