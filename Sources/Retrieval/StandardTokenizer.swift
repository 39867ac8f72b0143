/// Word segmentation following Lucene's `StandardTokenizer`, which implements
/// the word-boundary rules of Unicode UAX #29.
///
/// Covered, because they decide English tokens:
/// - letters and digits join (WB5, WB8-WB10): `b747`, `1960s` are one token;
/// - a letter-letter pair joined by `'`, `.`, `:`, `’`, `·` stays one token
///   (WB6/7): `o'neil`, `u.s.a`, `e.g`; a trailing `.` or `'` is dropped;
/// - digits joined by `.`, `,`, `;`, `'` stay one token (WB11/12): `3.5`, `1,000`;
/// - `_` and other connector punctuation join words (WB13a/b);
/// - combining marks and format characters (soft hyphen, ZWJ) attach to the
///   preceding character (WB4);
/// - hyphens, slashes, whitespace and other punctuation separate tokens;
/// - Han ideographs and Hiragana become one token per character, Katakana runs
///   and South-East Asian (Thai, Lao, Myanmar, Khmer) runs one token each, as
///   Lucene emits them;
/// - emoji (with modifiers, variation selectors and ZWJ sequences, and flag
///   pairs) become one token each, as Lucene 8+ does.
///
/// Tokens longer than `maxTokenLength` UTF-16 code units are cut into pieces
/// of that length, as Lucene 7+ does (it used to drop them).
public struct StandardTokenizer: Sendable {
    public static let defaultMaxTokenLength = 255
    public var maxTokenLength: Int

    public init(maxTokenLength: Int = StandardTokenizer.defaultMaxTokenLength) {
        self.maxTokenLength = max(1, maxTokenLength)
    }

    /// The token strings of `text`, in order, before any filtering.
    public func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var scalars: [Unicode.Scalar] = []
        var classes: [WordClass] = []
        var unit: [UInt16] = []
        forEachToken(text, scalars: &scalars, classes: &classes, token: &unit) {
            out.append(String(decoding: $0, as: UTF16.self))
        }
        return out
    }

    /// Calls `body` with each token's UTF-16 code units. `scalars`, `classes`
    /// and `token` are scratch buffers reused across calls to avoid allocation.
    func forEachToken(
        _ text: String, scalars: inout [Unicode.Scalar], classes: inout [WordClass], token: inout [UInt16],
        _ body: (inout [UInt16]) -> Void
    ) {
        scalars.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        for c in text.unicodeScalars {
            scalars.append(c)
            classes.append(WordClass.of(c))
        }
        let s = scalars
        let classes = classes
        let n = s.count

        var i = 0
        while i < n {
            let c = classes[i]
            switch c {
            case .aLetter, .numeric, .katakana, .extendNumLet:
                i = scanWord(from: i, scalars: s, classes: classes, token: &token, body)
            case .ideographic:
                token.removeAll(keepingCapacity: true)
                appendUTF16(s[i], to: &token)
                i += 1
                while i < n && classes[i] == .extend {
                    appendUTF16(s[i], to: &token)
                    i += 1
                }
                body(&token)
            case .southEastAsian:
                token.removeAll(keepingCapacity: true)
                while i < n && (classes[i] == .southEastAsian || classes[i] == .extend) && token.count < maxTokenLength {
                    appendUTF16(s[i], to: &token)
                    i += 1
                }
                body(&token)
            case .emoji, .regionalIndicator:
                i = scanEmoji(from: i, scalars: s, classes: classes, token: &token, body)
            default:
                i += 1
            }
        }
    }

    /// A word token starting at `start`; returns the index after it.
    private func scanWord(
        from start: Int, scalars s: [Unicode.Scalar], classes: [WordClass],
        token: inout [UInt16], _ body: (inout [UInt16]) -> Void
    ) -> Int {
        let n = s.count
        token.removeAll(keepingCapacity: true)
        var last = classes[start]
        var hasCore = last != .extendNumLet
        appendUTF16(s[start], to: &token)
        var i = start + 1
        while i < n {
            if token.count >= maxTokenLength { break }
            let c = classes[i]
            if c == .extend {
                appendUTF16(s[i], to: &token)
                i += 1
                continue
            }
            if WordClass.joins(last, c) {
                appendUTF16(s[i], to: &token)
                if c != .extendNumLet { hasCore = true }
                last = c
                i += 1
                continue
            }
            // WB6/7, WB11/12: a middle character joins only when the same
            // kind of character follows it (skipping attached marks).
            if c.isMid {
                var k = i + 1
                while k < n && classes[k] == .extend { k += 1 }
                if k < n, WordClass.joinsAcross(last, c, classes[k]) {
                    for m in i...k { appendUTF16(s[m], to: &token) }
                    last = classes[k]
                    i = k + 1
                    continue
                }
            }
            break
        }
        if token.count > maxTokenLength {
            // A surrogate pair or mark pushed past the limit: cut at the limit.
            let overflow = Array(token[maxTokenLength...])
            token.removeSubrange(maxTokenLength...)
            if hasCore { body(&token) }
            token = overflow
            body(&token)
            return i
        }
        // A run of connectors alone ("___") is not a word.
        if hasCore { body(&token) }
        return i
    }

    private func scanEmoji(
        from start: Int, scalars s: [Unicode.Scalar], classes: [WordClass],
        token: inout [UInt16], _ body: (inout [UInt16]) -> Void
    ) -> Int {
        let n = s.count
        token.removeAll(keepingCapacity: true)
        var i = start
        if classes[i] == .regionalIndicator {
            appendUTF16(s[i], to: &token)
            i += 1
            if i < n && classes[i] == .regionalIndicator {
                appendUTF16(s[i], to: &token)
                i += 1
            }
            body(&token)
            return i
        }
        while i < n {
            appendUTF16(s[i], to: &token)
            i += 1
            while i < n && (classes[i] == .extend || classes[i] == .emojiModifier) && s[i].value != 0x200D {
                appendUTF16(s[i], to: &token)
                i += 1
            }
            // A ZWJ followed by another pictograph continues the sequence.
            if i + 1 < n && s[i].value == 0x200D && classes[i + 1] == .emoji && token.count < maxTokenLength {
                appendUTF16(s[i], to: &token)
                i += 1
                continue
            }
            break
        }
        body(&token)
        return i
    }
}

@inline(__always)
func appendUTF16(_ scalar: Unicode.Scalar, to buffer: inout [UInt16]) {
    let v = scalar.value
    if v < 0x10000 {
        buffer.append(UInt16(truncatingIfNeeded: v))
    } else {
        let u = v - 0x10000
        buffer.append(UInt16(truncatingIfNeeded: 0xD800 + (u >> 10)))
        buffer.append(UInt16(truncatingIfNeeded: 0xDC00 + (u & 0x3FF)))
    }
}

/// UAX #29 word-break classes, reduced to those the tokenizer distinguishes.
enum WordClass: UInt8, Sendable {
    case other
    case aLetter
    case numeric
    case katakana
    case extendNumLet
    case midLetter
    case midNum
    /// MidNumLet and Single_Quote: join letters and digits alike.
    case midNumLet
    /// Extend, Format and ZWJ (WB4).
    case extend
    case ideographic
    case southEastAsian
    case emoji
    case emojiModifier
    case regionalIndicator

    var isMid: Bool { self == .midLetter || self == .midNum || self == .midNumLet }

    /// Pairs that never break (WB5, WB8-10, WB13, WB13a/b).
    @inline(__always)
    static func joins(_ a: WordClass, _ b: WordClass) -> Bool {
        switch (a, b) {
        case (.aLetter, .aLetter), (.aLetter, .numeric), (.numeric, .aLetter), (.numeric, .numeric),
             (.katakana, .katakana):
            return true
        case (.aLetter, .extendNumLet), (.numeric, .extendNumLet), (.katakana, .extendNumLet),
             (.extendNumLet, .extendNumLet):
            return true
        case (.extendNumLet, .aLetter), (.extendNumLet, .numeric), (.extendNumLet, .katakana):
            return true
        default:
            return false
        }
    }

    /// `a mid b` stays joined (WB6/7 for letters, WB11/12 for digits).
    @inline(__always)
    static func joinsAcross(_ a: WordClass, _ mid: WordClass, _ b: WordClass) -> Bool {
        if a == .aLetter && b == .aLetter { return mid == .midLetter || mid == .midNumLet }
        if a == .numeric && b == .numeric { return mid == .midNum || mid == .midNumLet }
        return false
    }

    private static let ascii: [WordClass] = {
        var t = [WordClass](repeating: .other, count: 128)
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = .aLetter }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = .aLetter }
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = .numeric }
        t[Int(UInt8(ascii: "_"))] = .extendNumLet
        t[Int(UInt8(ascii: ":"))] = .midLetter
        t[Int(UInt8(ascii: "."))] = .midNumLet
        t[Int(UInt8(ascii: "'"))] = .midNumLet
        t[Int(UInt8(ascii: ","))] = .midNum
        t[Int(UInt8(ascii: ";"))] = .midNum
        return t
    }()

    @inline(__always)
    static func of(_ scalar: Unicode.Scalar) -> WordClass {
        let v = scalar.value
        if v < 128 { return ascii[Int(v)] }
        return nonASCII(scalar)
    }

    static func nonASCII(_ scalar: Unicode.Scalar) -> WordClass {
        let v = scalar.value
        switch v {
        case 0x00B7, 0x0387, 0x05F4, 0x2027, 0xFE13, 0xFE55, 0xFF1A:
            return .midLetter
        case 0x2018, 0x2019, 0x2024, 0xFE52, 0xFF07, 0xFF0E:
            return .midNumLet
        case 0x037E, 0x0589, 0x060C, 0x060D, 0x066C, 0x07F8, 0x2044, 0xFE10, 0xFE14, 0xFE50, 0xFE54, 0xFF0C, 0xFF1B:
            return .midNum
        case 0x202F, 0x203F, 0x2040, 0x2054, 0xFE33, 0xFE34, 0xFE4D...0xFE4F, 0xFF3F:
            return .extendNumLet
        case 0x200D:
            return .extend
        case 0x1F1E6...0x1F1FF:
            return .regionalIndicator
        case 0x1F3FB...0x1F3FF:
            return .emojiModifier
        case 0x3040...0x309F:
            return .ideographic  // Hiragana: one token per character
        case 0x30A0...0x30FF, 0x31F0...0x31FF, 0x32D0...0x32FE, 0x3300...0x3357, 0xFF66...0xFF9D:
            return .katakana
        case 0x0E00...0x0EFF, 0x1000...0x109F, 0x1780...0x17FF, 0x19E0...0x19FF:
            let p = scalar.properties
            if p.generalCategory == .decimalNumber { return .numeric }
            if p.isAlphabetic || p.generalCategory == .nonspacingMark || p.generalCategory == .spacingMark {
                return .southEastAsian
            }
            return .other
        default:
            break
        }
        let p = scalar.properties
        switch p.generalCategory {
        case .nonspacingMark, .enclosingMark, .spacingMark, .format:
            return .extend
        case .decimalNumber:
            return .numeric
        default:
            break
        }
        if p.isIdeographic { return .ideographic }
        if p.isEmojiPresentation { return .emoji }
        if p.isAlphabetic { return .aLetter }
        if p.isEmoji && v >= 0x2000 { return .emoji }
        return .other
    }
}
