import Foundation
import Grammar
import Tokenizers

/// What a token spells as raw bytes, for matching generated text against a
/// grammar: byte-level BPE tokens decode through GPT-2's byte alphabet (so a
/// token may hold half of a UTF-8 character); added tokens spell their
/// content; special and control tokens spell nothing (nil: never allowed by
/// a grammar, end-of-sequence ids are handled apart).
extension Tokenizer {
    public func grammarTokenBytes(vocabularySize: Int) -> [[UInt8]?] {
        let byteLevel = preTokenizer?.isByteLevel ?? false
        let added = Dictionary(addedVocabulary.tokens.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return (0..<vocabularySize).map { id -> [UInt8]? in
            if isSpecial(id) { return nil }
            if let token = added[id] { return token.special || token.content.isEmpty ? nil : Array(token.content.utf8) }
            guard let token = token(for: id) else { return nil }
            if byteLevel { return ByteLevelAlphabet.bytes(of: token) }
            let text = decode([id])
            return text.isEmpty ? nil : Array(text.utf8)
        }
    }
}

/// The vocabulary as a token trie for constrained decoding, built on first
/// use and kept by the `TextGenerator` (and its copies), plus the last
/// grammars compiled from response formats, so repeated requests with one
/// schema compile it once.
public final class ConstrainedVocabulary: @unchecked Sendable {
    private let lock = NSLock()
    private var built: (tokens: [[UInt8]?], trie: TokenTrie)?
    private var grammars: [String: Grammar] = [:]
    /// Compiled grammars kept (schemas differ little within one run).
    static let grammarCacheLimit = 32

    public init() {}

    public func trie(for tokenizer: Tokenizer, vocabularySize: Int) -> (tokens: [[UInt8]?], trie: TokenTrie) {
        lock.lock()
        defer { lock.unlock() }
        if let built { return built }
        let tokens = tokenizer.grammarTokenBytes(vocabularySize: vocabularySize)
        let value = (tokens, TokenTrie(tokens: tokens))
        built = value
        return value
    }

    /// `make()`'s grammar, remembered under `key`.
    public func grammar(key: String, _ make: () throws -> Grammar) throws -> Grammar {
        lock.lock()
        if let cached = grammars[key] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let grammar = try make()
        lock.lock()
        if grammars.count >= Self.grammarCacheLimit { grammars.removeAll() }
        grammars[key] = grammar
        lock.unlock()
        return grammar
    }
}

extension TextGenerator {
    /// A fresh constraint for `grammar` over this generator's vocabulary
    /// (the trie is shared; the grammar states and masks are the constraint's own).
    public func makeConstraint(for grammar: Grammar) -> TokenConstraint {
        let (tokens, trie) = constrainedVocabulary.trie(for: tokenizer, vocabularySize: model.vocabularySize)
        return TokenConstraint(grammar: grammar, trie: trie, tokens: tokens, endOfSequenceIDs: endOfSequenceIDs)
    }
}
