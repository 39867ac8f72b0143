/// Per-item checks that need no model: lengths, language, and whether a
/// positive merely restates its query. Each failure has a code and a reason.
public struct QualityFilter: Sendable {
    public struct Failure: Sendable, Hashable {
        public var code: String
        public var reason: String
    }

    public var queryWords: SynthesisConfiguration.WordRange
    public var passageWords: SynthesisConfiguration.WordRange
    public var checkEnglish: Bool
    public var restatementThreshold: Double
    public var negativeMinOverlap: Double

    public init(settings: SynthesisConfiguration) {
        negativeMinOverlap = settings.negativeMinOverlap
        queryWords = settings.queryWords
        passageWords = settings.passageWords
        checkEnglish = settings.language == "en"
        restatementThreshold = settings.restatementThreshold
    }

    public func checkQuery(_ text: String) -> Failure? {
        let count = MinHash.words(text).count
        if count < queryWords.min { return Failure(code: "query-too-short", reason: "query has \(count) words, fewer than \(queryWords.min)") }
        if count > queryWords.max { return Failure(code: "query-too-long", reason: "query has \(count) words, more than \(queryWords.max)") }
        if checkEnglish, !Self.looksEnglish(text) { return Failure(code: "query-not-english", reason: "query does not look like English") }
        return nil
    }

    public func checkPassage(_ text: String, role: String) -> Failure? {
        let count = MinHash.words(text).count
        if count < passageWords.min { return Failure(code: "\(role)-too-short", reason: "\(role) has \(count) words, fewer than \(passageWords.min)") }
        if count > passageWords.max { return Failure(code: "\(role)-too-long", reason: "\(role) has \(count) words, more than \(passageWords.max)") }
        if checkEnglish, !Self.looksEnglish(text) { return Failure(code: "\(role)-not-english", reason: "\(role) does not look like English") }
        return nil
    }

    /// A positive that contains most of the query's word trigrams answers by
    /// echoing it, which teaches keyword matching rather than reasoning.
    public func checkRestatement(query: String, positive: String) -> Failure? {
        let containment = Self.trigramContainment(of: query, in: positive)
        if containment > restatementThreshold {
            return Failure(code: "positive-restates-query", reason: "positive contains \(Int((containment * 100).rounded()))% of the query's word trigrams")
        }
        return nil
    }

    /// A hard negative must look relevant: it shares the query's vocabulary.
    public func checkNegativeOverlap(query: String, negative: String) -> Failure? {
        let overlap = Self.contentWordOverlap(of: query, in: negative)
        if overlap < negativeMinOverlap {
            return Failure(code: "negative-off-topic", reason: "negative contains \(Int((overlap * 100).rounded()))% of the query's content words")
        }
        return nil
    }

    /// Fraction of `query`'s distinct non-function words that occur in `passage`.
    public static func contentWordOverlap(of query: String, in passage: String) -> Double {
        let q = Set(MinHash.words(query).filter { !stopwords.contains($0) })
        guard !q.isEmpty else { return 1 }
        return Double(q.intersection(MinHash.words(passage)).count) / Double(q.count)
    }

    /// Fraction of `query`'s word trigrams that occur in `passage`.
    public static func trigramContainment(of query: String, in passage: String) -> Double {
        let shingler = MinHash(permutations: 1, shingleSize: 3)
        let q = shingler.shingles(query)
        guard !q.isEmpty else { return 0 }
        return Double(q.intersection(shingler.shingles(passage)).count) / Double(q.count)
    }

    static let stopwords: Set<String> = [
        "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "is", "are", "was", "were", "be",
        "it", "its", "this", "that", "these", "those", "as", "at", "by", "from", "but", "not", "no", "if", "so",
        "i", "my", "we", "our", "you", "your", "he", "she", "they", "their", "what", "why", "how", "when", "which",
        "can", "do", "does", "did", "has", "have", "had", "will", "would", "should", "could", "than", "then", "there",
    ]

    /// A cheap script-and-function-word test: most letters are Latin a-z and
    /// English function words occur. Rejects other languages and token soup.
    public static func looksEnglish(_ text: String) -> Bool {
        var letters = 0
        var latin = 0
        for scalar in text.unicodeScalars where scalar.properties.isAlphabetic {
            letters += 1
            if scalar.isASCII { latin += 1 }
        }
        guard letters > 0, Double(latin) / Double(letters) >= 0.9 else { return false }
        let words = MinHash.words(text)
        guard words.count >= 6 else { return true }
        let function = words.filter { stopwords.contains($0) }.count
        return Double(function) / Double(words.count) >= 0.08
    }
}
