/// Lucene's `EnglishAnalyzer` as Anserini uses it by default:
/// `StandardTokenizer` -> `EnglishPossessiveFilter` -> `LowerCaseFilter` ->
/// `StopFilter` (Lucene's 33 English stop words) -> `PorterStemFilter`.
///
/// Lower-casing uses each code point's lower-case mapping, as Java's
/// `Character.toLowerCase` does (one code point to one, so `İ` becomes `i`).
public struct EnglishAnalyzer: Sendable, Hashable {
    /// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`.
    public static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
        "they", "this", "to", "was", "will", "with",
    ]

    /// Names the analysis in index files: an index built with another
    /// analysis must be rebuilt, not silently searched with this one.
    public static let identifier = "lucene-english-porter/1"

    public var maxTokenLength: Int

    public init(maxTokenLength: Int = StandardTokenizer.defaultMaxTokenLength) {
        self.maxTokenLength = maxTokenLength
    }

    /// The terms of `text`, in order.
    public func terms(_ text: String) -> [String] {
        var out: [String] = []
        var scratch = Scratch()
        forEachTerm(text, scratch: &scratch) { out.append(String(decoding: $0, as: UTF16.self)) }
        return out
    }

    /// Reusable buffers for `forEachTerm`; one per thread.
    struct Scratch {
        var scalars: [Unicode.Scalar] = []
        var classes: [WordClass] = []
        var token: [UInt16] = []
    }

    /// Calls `body` with each term's UTF-16 code units.
    func forEachTerm(_ text: String, scratch: inout Scratch, _ body: (ArraySlice<UInt16>) -> Void) {
        let tokenizer = StandardTokenizer(maxTokenLength: maxTokenLength)
        tokenizer.forEachToken(text, scalars: &scratch.scalars, classes: &scratch.classes, token: &scratch.token) { token in
            Self.removePossessive(&token)
            Self.lowercase(&token)
            if token.isEmpty || Self.isStopWord(token) { return }
            let n = PorterStemmer.stem(&token)
            body(token[0..<n])
        }
    }

    /// EnglishPossessiveFilter: a trailing 's or 'S (with ', ’ or ＇) goes.
    static func removePossessive(_ t: inout [UInt16]) {
        let n = t.count
        guard n >= 2 else { return }
        let q = t[n - 2], s = t[n - 1]
        if (q == 0x27 || q == 0x2019 || q == 0xFF07) && (s == 0x73 || s == 0x53) {
            t.removeLast(2)
        }
    }

    static func lowercase(_ t: inout [UInt16]) {
        var needsUnicode = false
        for i in t.indices {
            let c = t[i]
            if c >= 0x41 && c <= 0x5A {
                t[i] = c | 0x20
            } else if c >= 0x80 {
                needsUnicode = true
            }
        }
        guard needsUnicode else { return }
        var out: [UInt16] = []
        out.reserveCapacity(t.count)
        for scalar in String(decoding: t, as: UTF16.self).unicodeScalars {
            appendUTF16(lowercased(scalar), to: &out)
        }
        t = out
    }

    /// Java's one-to-one `Character.toLowerCase`: the full mapping when it is
    /// a single code point, the code point itself otherwise.
    static func lowercased(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.value == 0x130 { return "i" }
        let mapped = scalar.properties.lowercaseMapping.unicodeScalars
        if mapped.count == 1, let first = mapped.first { return first }
        return scalar
    }

    /// Stop words packed 12 bits per code unit (all are lower-case ASCII, at most 5 long).
    private static let packedStopWords: Set<UInt64> = Set(stopWords.map { pack(Array($0.utf16)[...]) })

    @inline(__always)
    private static func pack(_ t: ArraySlice<UInt16>) -> UInt64 {
        var key: UInt64 = 0
        for c in t { key = key << 12 | UInt64(c & 0xFFF) }
        return key
    }

    @inline(__always)
    static func isStopWord(_ t: [UInt16]) -> Bool {
        if t.count > 5 { return false }
        for c in t where c < 0x61 || c > 0x7A { return false }
        return packedStopWords.contains(pack(t[...]))
    }
}
