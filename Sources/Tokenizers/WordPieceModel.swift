/// BERT's WordPiece: greedy longest-match-first over the word, continuation
/// pieces spelled with `##`; a word with an unmatchable remainder, or longer
/// than `maxInputCharsPerWord`, becomes `[UNK]`.
///
/// Matching walks a byte trie of the vocabulary over the word's UTF-8, so
/// finding the longest prefix costs one pass and no substring allocation.
public struct WordPieceModel: TokenizerModel {
    public let unkToken: String
    public let unkID: Int
    public let continuingSubwordPrefix: String
    public let maxInputCharsPerWord: Int
    let vocab: [String: Int]
    let tokens: [String?]
    let trie: ByteTrie
    /// Trie node reached by the continuation prefix, nil when no token has it.
    let continuationRoot: Int32?

    public init(vocab: [String: Int], unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100) throws {
        guard let unk = vocab[unkToken] else {
            throw TokenizerError.tokenNotInVocabulary(field: "model.unk_token", token: unkToken)
        }
        self.vocab = vocab
        self.tokens = try invertVocabulary(vocab, field: "model.vocab")
        self.unkToken = unkToken
        self.unkID = unk
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        var trie = ByteTrie()
        for (token, id) in vocab { trie.insert(Array(token.utf8), id: id) }
        self.trie = trie
        self.continuationRoot = trie.walk(Array(continuingSubwordPrefix.utf8), from: 0)
    }

    /// A BERT `vocab.txt`: one token per line, the id is the line number.
    public init(vocabTXT contents: String, unkToken: String = "[UNK]") throws {
        var vocab: [String: Int] = [:]
        var lines = contents.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for (i, line) in lines.enumerated() {
            // As HF's WordPiece::read_file: trailing whitespace trimmed, a repeated token keeps its last line.
            var scalars = Substring(line).unicodeScalars
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
            vocab[String(scalars)] = i
        }
        try self.init(vocab: vocab, unkToken: unkToken)
    }

    public var vocabularySize: Int { tokens.count }
    public func tokenID(for token: String) -> Int? { vocab[token] }
    public func token(for id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    public func tokenize(_ text: [Unicode.Scalar], _ piece: Range<Int>, into ids: inout [Int]) {
        if piece.count > maxInputCharsPerWord { ids.append(unkID); return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(piece.count * 2)
        for i in piece { UTF8.encode(text[i]) { bytes.append($0) } }
        let mark = ids.count
        var start = 0
        while start < bytes.count {
            let root: Int32
            if start == 0 {
                root = 0
            } else if let cont = continuationRoot {
                root = cont
            } else {
                ids.removeSubrange(mark...); ids.append(unkID); return
            }
            // Longest vocabulary entry that is a prefix of bytes[start...].
            var node = root
            var best = -1
            var bestEnd = start
            var k = start
            while k < bytes.count, let next = trie.child(node, bytes[k]) {
                node = next
                k += 1
                let id = trie.ids[Int(node)]
                if id >= 0 { best = Int(id); bestEnd = k }
            }
            if best < 0 { ids.removeSubrange(mark...); ids.append(unkID); return }
            ids.append(best)
            start = bestEnd
        }
    }
}

/// A byte trie with one hash table of edges; node 0 is the root.
struct ByteTrie: Sendable {
    private(set) var edges: [UInt64: Int32] = [:]
    private(set) var ids: [Int32] = [-1]

    @inline(__always) func child(_ node: Int32, _ byte: UInt8) -> Int32? {
        edges[UInt64(node) << 8 | UInt64(byte)]
    }

    mutating func insert(_ bytes: [UInt8], id: Int) {
        var node: Int32 = 0
        for b in bytes {
            let key = UInt64(node) << 8 | UInt64(b)
            if let next = edges[key] {
                node = next
            } else {
                let next = Int32(ids.count)
                ids.append(-1)
                edges[key] = next
                node = next
            }
        }
        ids[Int(node)] = Int32(id)
    }

    func walk(_ bytes: [UInt8], from start: Int32) -> Int32? {
        var node = start
        for b in bytes {
            guard let next = child(node, b) else { return nil }
            node = next
        }
        return node
    }
}
