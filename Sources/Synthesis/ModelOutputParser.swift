import Foundation

/// Finds and decodes the JSON object in a model's answer, which may be bare,
/// fenced in ``` blocks, preceded by a `<think>` trace or wrapped in chatter.
/// Pure: the same text always gives the same result.
public enum ModelOutputParser {
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The first candidate object in `text` that decodes as `T`, or the
    /// reason none does (the last candidate's decoding error, or that there
    /// was no object at all).
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) -> Result<T, Failure> {
        let candidates = jsonObjectCandidates(in: text)
        if candidates.isEmpty {
            let visible = stripThinking(text)
            if visible.contains("{") { return .failure(Failure(reason: "the JSON object is cut off (unbalanced braces)")) }
            return .failure(Failure(reason: "no JSON object in the answer"))
        }
        var lastFailure = Failure(reason: "no JSON object in the answer")
        let decoder = JSONDecoder()
        for candidate in candidates {
            do {
                return .success(try decoder.decode(T.self, from: Data(candidate.utf8)))
            } catch {
                lastFailure = Failure(reason: describe(error))
            }
        }
        return .failure(lastFailure)
    }

    /// Candidate JSON object texts, best first: fenced blocks, then every
    /// balanced top-level `{...}` span outside them.
    public static func jsonObjectCandidates(in text: String) -> [String] {
        let visible = stripThinking(text)
        var out: [String] = []
        for block in fencedBlocks(in: visible) {
            let trimmed = block.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{") { out.append(contentsOf: balancedObjects(in: trimmed)) }
        }
        for object in balancedObjects(in: visible) where !out.contains(object) {
            out.append(object)
        }
        return out
    }

    /// Removes closed `<think>...</think>` spans; braces inside reasoning are
    /// not the answer.
    static func stripThinking(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let open = rest.range(of: "<think>") {
            guard let close = rest[open.upperBound...].range(of: "</think>") else { break }
            out += rest[..<open.lowerBound]
            rest = rest[close.upperBound...]
        }
        // A trace whose opening tag was in the prompt's assistant prefix.
        if out.isEmpty, let close = rest.range(of: "</think>"), rest.range(of: "<think>") == nil {
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static func fencedBlocks(in text: String) -> [String] {
        var blocks: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "```") {
            var bodyStart = open.upperBound
            // Skip a language tag such as ```json.
            if let newline = rest[bodyStart...].firstIndex(of: "\n"),
               rest[bodyStart..<newline].allSatisfy({ $0.isLetter || $0.isNumber }) {
                bodyStart = rest.index(after: newline)
            }
            guard let close = rest[bodyStart...].range(of: "```") else { break }
            blocks.append(String(rest[bodyStart..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return blocks
    }

    /// Every balanced top-level `{...}` span, aware of JSON strings and escapes.
    static func balancedObjects(in text: String) -> [String] {
        var objects: [String] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            guard scalars[i] == "{" else { i += 1; continue }
            var depth = 0
            var inString = false
            var escaped = false
            var j = i
            var closed = false
            while j < scalars.count {
                let c = scalars[j]
                if inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                } else if c == "\"" {
                    inString = true
                } else if c == "{" {
                    depth += 1
                } else if c == "}" {
                    depth -= 1
                    if depth == 0 { closed = true; break }
                }
                j += 1
            }
            guard closed else { break }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[i...j])
            objects.append(String(view))
            i = j + 1
        }
        return objects
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _):
            return "missing key \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "key \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type"
        case DecodingError.dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON" }
            return "key \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\": \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }
}

/// What the query-generation stage asks the model for.
public struct QueryAnswer: Decodable, Sendable, Hashable {
    public var query: String
    public var instruction: String

    enum CodingKeys: String, CodingKey { case query, instruction }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        query = try c.decode(String.self, forKey: .query)
        instruction = try c.decodeIfPresent(String.self, forKey: .instruction) ?? ""
    }
}

public struct PositivesAnswer: Decodable, Sendable, Hashable {
    public var positives: [String]
}

public struct NegativesAnswer: Decodable, Sendable, Hashable {
    public var negatives: [String]
}

/// A judge vote. Models write the verdict as a boolean, or as "true"/"yes"
/// strings; both are accepted, anything else is malformed.
public struct JudgeAnswer: Decodable, Sendable, Hashable {
    public var relevant: Bool
    public var reason: String

    enum CodingKeys: String, CodingKey { case relevant, reason }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let flag = try? c.decode(Bool.self, forKey: .relevant) {
            relevant = flag
        } else {
            let text = try c.decode(String.self, forKey: .relevant).lowercased().trimmingCharacters(in: .whitespaces)
            switch text {
            case "true", "yes", "relevant": relevant = true
            case "false", "no", "not relevant", "irrelevant": relevant = false
            default:
                throw DecodingError.dataCorruptedError(forKey: .relevant, in: c, debugDescription: "\"\(text)\" is not true or false")
            }
        }
        reason = (try? c.decodeIfPresent(String.self, forKey: .reason)) ?? ""
    }
}

public struct TraceAnswer: Decodable, Sendable, Hashable {
    public var reasoning: String
}
