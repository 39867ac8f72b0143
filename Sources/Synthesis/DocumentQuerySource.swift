import Datasets
import Foundation
import Randomness

/// Where corpus mode's queries come from. `llm` asks the generator
/// (`CorpusQueryStage`); the other two take the query from the document
/// itself, need no model, and so make pseudo-queries at volume:
///
/// - `title`: the document's title is the query, its body the positive (at
///   most one query per document);
/// - `ict`: the inverse cloze task (Lee et al. 2019): one sentence of the
///   document is the query, the document with that sentence removed the
///   positive, so the pair cannot be solved by string matching alone.
public enum QuerySource: String, Sendable, CaseIterable {
    case llm, title, ict

    public static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// The most queries one document can give, whatever `queries_per_document` asks.
    public var perDocumentLimit: Int? { self == .title ? 1 : nil }
}

/// A query taken from a document, and the passage it is the positive for.
public struct DocumentQuery: Sendable, Hashable {
    public var query: String
    public var positive: String
}

/// The pure functions behind the `title` and `ict` sources.
public enum DocumentQueries {
    /// The title as the query and the body as the positive; nil for a
    /// document without a title or body.
    /// A body that opens with its title (every Cranfield abstract does) loses
    /// that copy, or the pair would be solved by string matching.
    public static func title(_ document: Document) -> DocumentQuery? {
        let title = document.title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { return nil }
        let passage = body(document)
        guard !passage.isEmpty else { return nil }
        return DocumentQuery(query: title.split(whereSeparator: \.isWhitespace).joined(separator: " "), positive: passage)
    }

    /// The body as a title query's passages read it (positive and negatives alike).
    public static func body(_ document: Document) -> String {
        bodyWithoutTitle(document).joined(separator: " ")
    }

    /// The body's sentences, without any that only repeat the title.
    static func bodyWithoutTitle(_ document: Document) -> [String] {
        let title = MinHash.words(document.title)
        return sentences(document.text).filter { title.isEmpty || MinHash.words($0) != title }
    }

    /// Sentences of `text`: split after `.`, `?` or `!` followed by
    /// whitespace, whitespace runs collapsed. Abbreviations split too, which
    /// only makes a few queries shorter (and the word-count filter drops
    /// fragments).
    public static func sentences(_ text: String) -> [String] {
        var sentences: [String] = []
        var current: [Substring] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            current.append(word)
            if let last = word.last, ".?!".contains(last) {
                sentences.append(current.joined(separator: " "))
                current = []
            }
        }
        if !current.isEmpty { sentences.append(current.joined(separator: " ")) }
        return sentences
    }

    /// Round `round` of the inverse cloze task on `document`: the
    /// sentences with `minWords` words or more, in a seeded order per
    /// document, give one query each; the positive is the title and every
    /// other sentence. Nil when the document has no sentence left for this
    /// round, or no other sentence to be the positive.
    public static func ict(_ document: Document, round: Int, minWords: Int, seed: UInt64) -> DocumentQuery? {
        // A sentence that repeats the title is not a cloze: the positive carries the title.
        let all = bodyWithoutTitle(document)
        guard all.count >= 2 else { return nil }
        let usable = all.indices.filter { MinHash.words(all[$0]).count >= minWords }
        guard round >= 0, round < usable.count else { return nil }
        var generator = SplitMix64(seed: seed ^ StableHash.of(document.id))
        var order = usable
        // Fisher-Yates with the project's generator, so every platform picks the same sentences.
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        let picked = order[round]
        let rest = all.indices.filter { $0 != picked }.map { all[$0] }.joined(separator: " ")
        let positive = document.title.isEmpty ? rest : document.title + "\n" + rest
        return DocumentQuery(query: all[picked], positive: positive)
    }
}

extension QueryAnswer {
    /// A query that no model wrote (the `title` and `ict` sources).
    init(query: String, instruction: String = "") {
        self.query = query
        self.instruction = instruction
    }
}
