/// Added and special tokens (`added_tokens` in tokenizer.json). They are cut
/// out of the raw text before normalization and pre-tokenization, matching
/// leftmost-longest, so `<|im_start|>` or `[SEP]` in the input stay one token.
public struct AddedVocabulary: Sendable {
    public let tokens: [AddedTokenConfig]
    let idByContent: [String: Int]
    let contentByID: [Int: String]
    let specialIDs: Set<Int>
    /// Candidate tokens by first scalar, longest first.
    private let candidates: [UInt32: [(scalars: [Unicode.Scalar], index: Int)]]

    public init(_ tokens: [AddedTokenConfig]) {
        self.tokens = tokens
        var byContent: [String: Int] = [:]
        var byID: [Int: String] = [:]
        var special = Set<Int>()
        var candidates: [UInt32: [(scalars: [Unicode.Scalar], index: Int)]] = [:]
        for (i, t) in tokens.enumerated() where !t.content.isEmpty {
            byContent[t.content] = t.id
            byID[t.id] = t.content
            if t.special { special.insert(t.id) }
            let scalars = Array(t.content.unicodeScalars)
            candidates[scalars[0].value, default: []].append((scalars, i))
        }
        for key in candidates.keys {
            candidates[key]?.sort { $0.scalars.count > $1.scalars.count }
        }
        self.idByContent = byContent
        self.contentByID = byID
        self.specialIDs = special
        self.candidates = candidates
    }

    public var isEmpty: Bool { idByContent.isEmpty }

    enum Segment: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    func split(_ text: [Unicode.Scalar]) -> [Segment] {
        guard !candidates.isEmpty else { return [.text(0..<text.count)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < text.count {
            guard let list = candidates[text[i].value], let (length, index) = longestMatch(list, text, at: i) else {
                i += 1
                continue
            }
            let token = tokens[index]
            var start = i
            var end = i + length
            if token.singleWord, !isWordBoundary(text, before: start, after: end) {
                i += 1
                continue
            }
            if token.lstrip {
                while start > textStart, text[start - 1].properties.isWhitespace { start -= 1 }
            }
            if token.rstrip {
                while end < text.count, text[end].properties.isWhitespace { end += 1 }
            }
            if textStart < start { out.append(.text(textStart..<start)) }
            out.append(.token(token.id))
            textStart = end
            i = end
        }
        if textStart < text.count { out.append(.text(textStart..<text.count)) }
        return out
    }

    private func longestMatch(_ list: [(scalars: [Unicode.Scalar], index: Int)], _ text: [Unicode.Scalar], at i: Int) -> (Int, Int)? {
        for candidate in list where candidate.scalars.count <= text.count - i {
            var k = 1
            while k < candidate.scalars.count, candidate.scalars[k] == text[i + k] { k += 1 }
            if k == candidate.scalars.count { return (k, candidate.index) }
        }
        return nil
    }

    private func isWordBoundary(_ text: [Unicode.Scalar], before start: Int, after end: Int) -> Bool {
        func isWordChar(_ s: Unicode.Scalar) -> Bool {
            s == "_" || ScalarClass.of(s) == .letter || ScalarClass.of(s) == .number
        }
        if start > 0, isWordChar(text[start - 1]) { return false }
        if end < text.count, isWordChar(text[end]) { return false }
        return true
    }
}
