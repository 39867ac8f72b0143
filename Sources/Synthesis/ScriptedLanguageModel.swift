import Randomness
import Datasets
import Foundation
import LanguageModels
import Models

/// A deterministic stand-in model for tests and for the hidden
/// `limrank synthesize --backend scripted` (a test backend, not a real one).
///
/// It reads the built-in prompts the stages render and answers in their JSON
/// shapes, with the chatter real models add (code fences, preambles). Its
/// answers depend only on the request, so runs are reproducible. Knobs make it
/// misbehave on purpose: `garbageRate` of answers are unusable (no JSON, cut
/// off, wrong keys), `judgeNoise` of judge votes are flipped.
///
/// The judge knows the truth because passages are functions of the query:
/// positive k of a query is `positive(query, k)`, so the judge recomputes them.
public struct ScriptedLanguageModel: LanguageModel {
    public var garbageRate: Double
    public var judgeNoise: Double
    public var delayMilliseconds: Int
    public var identifier: String { "scripted" }

    public init(garbageRate: Double = 0, judgeNoise: Double = 0, delayMilliseconds: Int = 0) {
        self.garbageRate = garbageRate
        self.judgeNoise = judgeNoise
        self.delayMilliseconds = delayMilliseconds
    }

    public func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] {
        candidates.map { _ in nil }
    }

    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        text.split(separator: " ").prefix(maxTokens).joined(separator: " ")
    }

    public func generate(_ request: GenerationRequest) async throws -> String {
        if delayMilliseconds > 0 { try await Task.sleep(nanoseconds: UInt64(delayMilliseconds) * 1_000_000) }
        // A re-ask appends turns; the task is in the first user message.
        let task = request.messages.first { $0.role == .user }?.content ?? ""
        var roll = SplitMix64(seed: StableHash.of(task, seed: request.seed) ^ UInt64(request.messages.count))
        if roll.nextUnit() < garbageRate { return Self.garbage(&roll) }
        let json: String
        if task.contains("\nDocument:\n") && task.contains("{\"query\":") {
            json = corpusQuery(task)
        } else if task.contains("{\"query\":") {
            json = query(task)
        } else if task.contains("{\"positives\":") {
            let q = Self.field("Query", in: task)
            let count = Int(Self.between(task, "Write ", " different")) ?? 1
            json = Self.object(["positives": (0..<count).map { Self.positive(query: q, k: $0) }])
        } else if task.contains("{\"negatives\":") {
            let q = Self.field("Query", in: task)
            let count = Int(Self.between(task, "Write ", " different")) ?? 1
            let domain = Self.field("Domain", in: task)
            json = Self.object(["negatives": (0..<count).map { Self.negative(query: q, domain: domain, k: $0) }])
        } else if task.contains("{\"relevant\":") {
            let q = Self.field("Query", in: task)
            let passage = Self.line(after: "Passage:", in: task)
            var relevant: Bool
            if let keys = Self.corpusKeys(fromQuery: q) {
                // Corpus mode: relevant when the passage holds every key word the query was written from.
                let words = Set(MinHash.words(Self.between(task, "Passage:\n", "\nIs the passage relevant?")))
                relevant = keys.allSatisfy(words.contains)
            } else {
                relevant = (0..<8).contains { Self.positive(query: q, k: $0) == passage }
            }
            if roll.nextUnit() < judgeNoise { relevant.toggle() }
            json = "{\"relevant\": \(relevant), \"reason\": \"" + (relevant ? "It explains the cause the searcher needs." : "It shares the topic but does not answer the need.") + "\"}"
        } else if task.contains("{\"reasoning\":") {
            // The teacher is not told the label (ReasoningTraceStage): it judges as the judge does.
            let q = Self.field("Query", in: task)
            let passage = Self.line(after: "Passage:", in: task)
            let relevant = (0..<8).contains { Self.positive(query: q, k: $0) == passage }
            let label = relevant ? "relevant" : "not relevant"
            json = "{\"reasoning\": \"The searcher needs the mechanism behind the situation they describe, not a definition. "
                + "The passage is \(label) because of what it explains and what it leaves out.\", \"relevant\": \(relevant)}"
        } else {
            return "I am not sure what you are asking."
        }
        switch roll.next() % 3 {
        case 0: return json
        case 1: return "```json\n" + json + "\n```"
        default: return "Here is the answer you asked for:\n" + json + "\nLet me know if you need more."
        }
    }

    static let situations = [
        "it worked well for years and then got steadily worse without any obvious change",
        "the standard advice I found made the problem worse instead of better",
        "two sources I trust recommend opposite things and both seem reasonable",
        "the problem only shows up in cold weather and disappears by the afternoon",
        "the numbers look fine on average but a few cases are far off",
        "a small change I made last month seems to have had a large delayed effect",
        "it fails only when several things happen at the same time",
        "everyone around me has the same setup but only mine behaves this way",
        "the first attempt succeeded but repeating it exactly gives a different result",
        "the cheaper option turned out to cost more over a year",
        "it improves when I do less of what is supposed to help",
        "measurements from two instruments disagree by a fixed amount",
    ]

    func query(_ task: String) -> String {
        let persona = Self.field("Persona", in: task)
        let domain = Self.field("Domain", in: task)
        let h = StableHash.of(persona + "|" + domain)
        let situation = Self.situations[Int(h % UInt64(Self.situations.count))]
        var fields = ["query": "I am \(persona), dealing with \(domain): \(situation). What is really going on, and what should I change?"]
        fields["instruction"] = task.contains("Also write an instruction")
            ? "Only passages that explain the underlying cause are relevant; lists of generic tips are not." : ""
        return Self.object(fields)
    }

    /// Corpus mode: a question built from the document's three longest
    /// words, so BM25 can find the document and the judge can tell which
    /// passages hold them.
    func corpusQuery(_ task: String) -> String {
        let persona = Self.field("Persona", in: task)
        let document = Self.between(task, "Document:\n", "\nWrite one question")
        let keys = Self.keyWords(document)
        // The situation varies with the document, so queries asked by one
        // persona (the neutral reader, say) are not near-duplicates.
        let situation = Self.situations[Int(StableHash.of(document) % UInt64(Self.situations.count))]
        var fields = ["query": "As \(persona), I notice \(situation): why do \(keys.joined(separator: ", ")) matter together here, and what follows from it?"]
        fields["instruction"] = task.contains("Also write an instruction")
            ? "Only passages that explain how these interact are relevant; definitions alone are not." : ""
        return Self.object(fields)
    }

    static func keyWords(_ text: String) -> [String] {
        var seen = Set<String>()
        let words = MinHash.words(text).filter { $0.count >= 5 && $0.allSatisfy(\.isLetter) && seen.insert($0).inserted }
        let ranked = words.enumerated().sorted { $0.element.count != $1.element.count ? $0.element.count > $1.element.count : $0.offset < $1.offset }
        return ranked.prefix(3).map(\.element)
    }

    static func corpusKeys(fromQuery query: String) -> [String]? {
        guard query.contains("why do "), query.contains(" matter together") else { return nil }
        let list = between(query, "why do ", " matter together")
        return list.components(separatedBy: ", ").filter { !$0.isEmpty }
    }

    static let causes = [
        "A feedback loop is usually responsible: a small initial shift changes the very conditions that produced it, so the effect accelerates until something saturates.",
        "The key is a threshold effect. Below a critical value the system absorbs disturbances, but once the margin is used up, each further step has a disproportionate result.",
        "Averages hide the mechanism here, because the outcome depends on the tail of the distribution rather than its centre, and the tail is driven by rare combinations.",
        "The delay between cause and effect misleads people: the response integrates past inputs, so the visible change lags the decision by weeks or months.",
        "A systematic offset points to calibration rather than noise, since random error would scatter in both directions while a fixed bias shifts every reading alike.",
        "Interactions matter more than single factors: each condition alone is harmless, yet together they cross a limit that none of them reaches on its own.",
    ]
    static let remedies = [
        "The practical consequence is to change the input that sets the loop in motion rather than treating the symptom, and to watch the trend over several cycles.",
        "In practice one should restore the margin first, then make changes one at a time, because simultaneous changes make the result impossible to attribute.",
        "The sound approach is to measure the extreme cases directly and to compare them with the typical ones, which reveals which condition is responsible.",
        "This is why experienced practitioners keep a simple log: it turns a puzzling delayed response into a pattern that can be matched to its cause.",
    ]
    static let distractors = [
        "Surveys show that most people in this situation try several products before settling on one, and satisfaction varies widely between brands.",
        "The history of the field is long, and the terminology has changed several times, which is why older manuals describe the same parts with different names.",
        "Regulations differ between regions, and the paperwork required can take several weeks, so it is worth starting early and keeping copies of every form.",
        "Prices have risen steadily over the past decade, partly because of higher material costs and partly because of growing demand in cities.",
        "Many guides recommend a checklist of routine tasks, such as cleaning, inspecting and replacing worn parts, performed at fixed intervals throughout the year.",
        "Beginners often confuse the two common designs, which look alike from the outside but are assembled differently and sold under different names.",
    ]

    static func positive(query: String, k: Int) -> String {
        let h = StableHash.of(query, seed: UInt64(k) &+ 1)
        let cause = causes[Int(h % UInt64(causes.count))]
        let remedy = remedies[Int((h >> 20) % UInt64(remedies.count))]
        let extra = causes[Int((h >> 40) % UInt64(causes.count))]
        return cause + " " + remedy + (extra == cause ? "" : " " + extra)
    }

    /// Shares the query's domain and situation words, but explains nothing.
    static func negative(query: String, domain: String, k: Int) -> String {
        let h = StableHash.of(query, seed: 0xBAD &+ UInt64(k))
        let situation = situations.first { query.contains($0) } ?? "this kind of problem"
        let topic = "\(domain) when \(situation)"
        let first = distractors[Int(h % UInt64(distractors.count))]
        var second = distractors[Int((h >> 24) % UInt64(distractors.count))]
        if second == first { second = distractors[(Int(h % UInt64(distractors.count)) + 1) % distractors.count] }
        return "People asking about \(topic) often look for general background first. " + first + " " + second
    }

    static func garbage(_ roll: inout SplitMix64) -> String {
        switch roll.next() % 3 {
        case 0: return "Sure! That is a great question, and there are many things to consider here."
        case 1: return "{\"query\": \"I am a person who wonders wh"
        default: return "{\"answer\": \"something else entirely\"}"
        }
    }

    static func object(_ fields: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The rest of the line that starts with "name: ".
    static func field(_ name: String, in text: String) -> String {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ": ") {
            return String(line.dropFirst(name.count + 2))
        }
        return ""
    }

    static func line(after marker: String, in text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let i = lines.firstIndex(where: { $0 == marker }), i + 1 < lines.count else { return "" }
        return String(lines[i + 1])
    }

    static func between(_ text: String, _ start: String, _ end: String) -> String {
        guard let s = text.range(of: start), let e = text[s.upperBound...].range(of: end) else { return "" }
        return String(text[s.upperBound..<e.lowerBound])
    }
}
