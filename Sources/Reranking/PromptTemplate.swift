import Foundation
import LanguageModels

/// A prompt as data: text with `{name}` placeholders, a version that goes into
/// cache keys and reports, and the set of placeholders it must contain.
public struct PromptTemplate: Sendable, Hashable {
    public var id: String
    public var version: Int
    public var system: String
    public var user: String

    public init(id: String, version: Int, system: String, user: String, required: Set<String>) throws {
        self.id = id
        self.version = version
        self.system = system
        self.user = user
        let present = Self.placeholders(in: system + user)
        let missing = required.subtracting(present)
        if !missing.isEmpty {
            throw RerankingError.invalidParameter(
                name: "prompt \(id)", reason: "missing placeholder(s) \(missing.sorted().map { "{\($0)}" }.joined(separator: ", "))")
        }
        let unknown = present.subtracting(required)
        if !unknown.isEmpty {
            throw RerankingError.invalidParameter(
                name: "prompt \(id)", reason: "unknown placeholder(s) \(unknown.sorted().map { "{\($0)}" }.joined(separator: ", "))")
        }
    }

    public var versionTag: String { "\(id)@v\(version)" }

    /// The placeholder names used in `text`: `{word}` with word made of letters, digits and `_`.
    public static func placeholders(in text: String) -> Set<String> {
        var names = Set<String>()
        var current: String?
        for ch in text {
            if ch == "{" {
                current = ""
            } else if ch == "}", let name = current {
                if !name.isEmpty { names.insert(name) }
                current = nil
            } else if current != nil {
                if ch.isLetter || ch.isNumber || ch == "_" { current!.append(ch) } else { current = nil }
            }
        }
        return names
    }

    /// Substitutes every placeholder in one pass, so a value that itself
    /// contains `{query}` (a passage quoting a template, say) is never expanded.
    public func render(_ values: [String: String]) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if !system.isEmpty { messages.append(ChatMessage(.system, Self.fill(system, values))) }
        messages.append(ChatMessage(.user, Self.fill(user, values)))
        return messages
    }

    static func fill(_ text: String, _ values: [String: String]) -> String {
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == "{", let close = text[i...].firstIndex(of: "}") {
                let name = String(text[text.index(after: i)..<close])
                if let value = values[name] {
                    out += value
                    i = text.index(after: close)
                    continue
                }
            }
            out.append(text[i])
            i = text.index(after: i)
        }
        return out
    }
}
