/// GPT-2's reversible byte <-> printable-character mapping: printable Latin-1
/// bytes map to themselves, the other 68 bytes to U+0100 and up.
public enum ByteLevelAlphabet {
    /// `scalarForByte[b]` is the character that stands for byte `b`.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: Unicode.Scalar(0), count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next) ?? Unicode.Scalar(0)
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, by scalar value (all mapped scalars are below 0x144).
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x200)
        for (b, s) in scalarForByte.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// Raw bytes of a byte-level token string, or nil when a character is outside the alphabet.
    public static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard s.value < 0x200 else { return nil }
            let b = byteForScalar[Int(s.value)]
            guard b >= 0 else { return nil }
            out.append(UInt8(b))
        }
        return out
    }

    /// The byte-level spelling of raw bytes.
    public static func string(of bytes: some Sequence<UInt8>) -> String {
        UnicodeText.string(bytes.lazy.map { scalarForByte[Int($0)] })
    }
}

/// GPT-2's pre-tokenizer: splits with the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (a hand-written scanner, no regex engine), then the model sees each word
/// as bytes.
public struct ByteLevelPreTokenizer: PreTokenizer {
    public var addPrefixSpace: Bool
    public var useRegex: Bool

    public init(addPrefixSpace: Bool = false, useRegex: Bool = true) {
        self.addPrefixSpace = addPrefixSpace
        self.useRegex = useRegex
    }

    public var addsPrefixSpace: Bool { addPrefixSpace }
    public var isByteLevel: Bool { true }

    public func split(_ text: [Unicode.Scalar], pieces: [Range<Int>]) -> [Range<Int>] {
        guard useRegex else { return pieces }
        var out: [Range<Int>] = []
        out.reserveCapacity(pieces.count * 2)
        for piece in pieces { GPT2Scanner.scan(text, piece, into: &out) }
        return out
    }
}

/// The GPT-2 pattern as a scanner. Alternatives are tried in the pattern's
/// order at each position, as a backtracking regex engine would.
enum GPT2Scanner {
    static func scan(_ text: [Unicode.Scalar], _ range: Range<Int>, into out: inout [Range<Int>]) {
        let end = range.upperBound
        var i = range.lowerBound
        @inline(__always) func cls(_ k: Int) -> ScalarClass { ScalarClass.of(text[k]) }
        @inline(__always) func run(from k: Int, while c: ScalarClass) -> Int {
            var j = k
            while j < end, cls(j) == c { j += 1 }
            return j
        }
        @inline(__always) func runOfOther(from k: Int) -> Int {
            var j = k
            while j < end, cls(j) == .other { j += 1 }
            return j
        }
        while i < end {
            let c = text[i]
            // 's 't 're 've 'm 'll 'd
            if c == "'", i + 1 < end {
                let n1 = text[i + 1]
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" {
                    out.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < end {
                    let n2 = text[i + 2]
                    if (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // The optional leading space of ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`.
            var start = i
            if c == " ", i + 1 < end, cls(i + 1) != .whitespace { start = i + 1 }
            let k = cls(start)
            switch k {
            case .letter, .number:
                let j = run(from: start + 1, while: k)
                out.append(i..<j); i = j; continue
            case .other:
                let j = runOfOther(from: start + 1)
                out.append(i..<j); i = j; continue
            case .whitespace:
                // \s+(?!\S): all of the run at the end of text, else all but its last
                // character; a lone whitespace before a non-space falls to \s+.
                let j = run(from: i + 1, while: .whitespace)
                if j == end || j - i == 1 {
                    out.append(i..<j); i = j
                } else {
                    out.append(i..<(j - 1)); i = j - 1
                }
            }
        }
    }
}
