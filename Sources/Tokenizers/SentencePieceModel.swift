/// A SentencePiece BPE vocabulary as GGUF stores it (`tokenizer.ggml.model =
/// "llama"`: tokens with scores, no merge list), tokenized the way llama.cpp's
/// SPM tokenizer does (llm_tokenizer_spm in llama-vocab.cpp):
///
/// - spaces become `▁` (U+2581); a fragment gets a leading `▁` only when the
///   vocabulary says `add_space_prefix` and it starts the input or follows an
///   added token (the caller says which);
/// - the fragment starts as one symbol per Unicode scalar; every adjacent
///   pair whose concatenation is a token is a candidate, and the candidate
///   whose token has the highest score merges first (ties: the leftmost);
///   merging repeats until no adjacent pair forms a token;
/// - a final symbol that is not a token (a scalar outside the vocabulary)
///   is emitted as its UTF-8 bytes through the `<0xNN>` byte tokens, or as
///   the unknown token when the vocabulary has no byte tokens.
public struct SentencePieceModel: TokenizerModel {
    public let tokens: [String]
    public let scores: [Float]
    /// Keyed by UTF-8 bytes, not String: Swift's String equality is canonical
    /// equivalence, which would make "é" and "e\u{301}" (both in Gemma's
    /// vocabulary) one key; the vocabularies compare bytes.
    let ids: [[UInt8]: Int]
    /// `<0xNN>` token ids by byte value.
    let byteIDs: [Int?]
    public let unknownID: Int?
    public let addSpacePrefix: Bool

    static let space: Unicode.Scalar = "\u{2581}"

    public init(tokens: [String], scores: [Float], unknownID: Int?, addSpacePrefix: Bool) throws {
        guard scores.count == tokens.count else {
            throw TokenizerError.invalidEntry(field: "tokenizer.ggml.scores", index: scores.count,
                                              reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        var ids: [[UInt8]: Int] = [:]
        ids.reserveCapacity(tokens.count)
        // A repeated token text resolves to its last id, as llama.cpp's token_to_id map does.
        for (i, t) in tokens.enumerated() { ids[Array(t.utf8)] = i }
        self.tokens = tokens
        self.scores = scores
        self.ids = ids
        self.byteIDs = (0..<256).map { ids[Array(("<0x" + String(UInt8($0), radix: 16, uppercase: true).leftPadded(to: 2) + ">").utf8)] }
        self.unknownID = unknownID
        self.addSpacePrefix = addSpacePrefix
    }

    public var vocabularySize: Int { tokens.count }
    public func tokenID(for token: String) -> Int? { ids[Array(token.utf8)] }
    public func token(for id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    public func tokenize(_ text: [Unicode.Scalar], _ piece: Range<Int>, into ids: inout [Int]) {
        tokenize(fragment: text[piece], prefixSpace: false, into: &ids)
    }

    /// Tokenizes one fragment of raw text (added tokens already cut out).
    public func tokenize(fragment: ArraySlice<Unicode.Scalar>, prefixSpace: Bool, into out: inout [Int]) {
        var text: [Unicode.Scalar] = []
        text.reserveCapacity(fragment.count + 1)
        if prefixSpace { text.append(Self.space) }
        for s in fragment { text.append(s == " " ? Self.space : s) }
        guard !text.isEmpty else { return }

        // Symbols as a linked list over `text`. Merging folds the right symbol
        // into the left, so symbol i always starts at scalar i; `length` is 0
        // once a symbol has been merged away.
        let n = text.count
        var length = [Int](repeating: 1, count: n)
        var prev = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1

        func bytes(_ from: Int, _ count: Int) -> [UInt8] {
            var b: [UInt8] = []
            b.reserveCapacity(4 * count)
            for s in text[from..<(from + count)] { UTF8.encode(s) { b.append($0) } }
            return b
        }
        var queue = BigramQueue()
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = length[left] + length[right]
            guard let id = ids[bytes(left, size)] else { return }
            queue.push(.init(left: left, right: right, score: scores[id], size: size))
        }
        for i in 1..<n { tryAdd(i - 1, i) }
        while let bigram = queue.pop() {
            let l = bigram.left, r = bigram.right
            // Skip candidates whose symbols changed since they were queued.
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == bigram.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            tryAdd(prev[l], l)
            tryAdd(l, next[l])
        }
        var i = 0
        while i != -1 {
            let s = bytes(i, length[i])
            if let id = ids[s] {
                out.append(id)
            } else {
                for byte in s {
                    if let id = byteIDs[Int(byte)] {
                        out.append(id)
                    } else if let unknownID {
                        out.append(unknownID)
                        break
                    }
                }
            }
            i = next[i]
        }
    }
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    var left: Int
    var right: Int
    var score: Float
    var size: Int

    /// llama.cpp's order: higher score first, then the leftmost pair.
    func precedes(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }
}

/// A binary max-heap of bigrams by `Bigram.precedes`.
struct BigramQueue {
    private var heap: [Bigram] = []

    mutating func push(_ b: Bigram) {
        heap.append(b)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let a = 2 * i + 1, b = a + 1
                var best = i
                if a < heap.count, heap[a].precedes(heap[best]) { best = a }
                if b < heap.count, heap[b].precedes(heap[best]) { best = b }
                if best == i { break }
                heap.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

/// SentencePiece decoding: `▁` back to a space, runs of `<0xNN>` byte tokens
/// back to their UTF-8 text (invalid bytes become U+FFFD), and with
/// `add_space_prefix` the one leading space the encoder added removed (HF's
/// Replace + ByteFallback + Fuse + Strip decoders for Llama / Gemma).
public struct SentencePieceDecoder: TokenDecoder {
    public var stripLeadingSpace: Bool

    public init(stripLeadingSpace: Bool) {
        self.stripLeadingSpace = stripLeadingSpace
    }

    public func decodeChain(_ tokens: [String]) -> [String] {
        var bytes: [UInt8] = []
        for token in tokens {
            if let byte = Self.byteValue(token) {
                bytes.append(byte)
            } else {
                for s in token.unicodeScalars {
                    if s == SentencePieceModel.space { bytes.append(0x20) } else { bytes.append(contentsOf: String(s).utf8) }
                }
            }
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if stripLeadingSpace, text.unicodeScalars.first == " " { text.unicodeScalars.removeFirst() }
        return [text]
    }

    /// The byte of a `<0xNN>` token (two upper-case hex digits, as the vocabularies write them).
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        guard let hi = hex(u[3]), let lo = hex(u[4]) else { return nil }
        return hi << 4 | lo
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
