import Foundation

/// Everything that can go wrong reading a grammar or a JSON schema, or
/// matching text against one. Each case says where: the rule, the line and
/// column of a GBNF file, the JSON pointer of a schema keyword.
public enum GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A GBNF source that does not parse (`line`/`column` are 1-based).
    case syntax(source: String, line: Int, column: Int, reason: String)
    /// A rule referenced but never defined, or no `root` rule.
    case undefinedRule(name: String, source: String)
    /// A JSON schema keyword or value this engine does not support, at a JSON pointer.
    case unsupportedSchema(pointer: String, reason: String)
    /// A schema that is not valid JSON or not a schema at all.
    case invalidSchema(source: String, reason: String)
    /// A rule that can reach itself before consuming any input (directly,
    /// or through rules and repetitions that may match nothing).
    case leftRecursion(rule: String, source: String)
    /// Constrained decoding reached a state where no token of the vocabulary
    /// continues the text (the grammar needs bytes no token spells).
    case noAllowedToken(source: String, text: String)

    public var description: String {
        switch self {
        case let .syntax(source, line, column, reason):
            return "\(source):\(line):\(column): \(reason)"
        case let .undefinedRule(name, source):
            return "\(source): rule '\(name)' is used but never defined"
        case let .unsupportedSchema(pointer, reason):
            return "JSON schema at '\(pointer)': \(reason)"
        case let .invalidSchema(source, reason):
            return "\(source): not a usable JSON schema: \(reason)"
        case let .leftRecursion(rule, source):
            return "\(source): rule '\(rule)' is left-recursive (it can call itself before matching a character); rewrite it with repetition"
        case let .noAllowedToken(source, text):
            return "\(source): no token of the vocabulary continues the output after \(text.debugDescription)"
        }
    }
}
