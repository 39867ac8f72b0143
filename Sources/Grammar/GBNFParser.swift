/// A GBNF expression (llama.cpp's grammar syntax) before compilation.
indirect enum GBNFExpression: Sendable, Equatable {
    case alternatives([GBNFExpression])
    case sequence([GBNFExpression])
    /// A string literal as Unicode scalars; empty matches the empty string.
    case literal([Unicode.Scalar])
    /// Code point ranges, already complemented when the class was `[^...]`.
    case characterClass([ClosedRange<UInt32>])
    case rule(name: String, line: Int, column: Int)
    case repetition(GBNFExpression, min: Int, max: Int?)
}

/// The rules of a GBNF source in the order they are defined.
struct GBNFRules: Sendable {
    var names: [String] = []
    var bodies: [String: GBNFExpression] = [:]
}

/// Reads llama.cpp's GBNF: `name ::= alternatives` rules, `|`, groups,
/// `? * + {m} {m,} {m,n}`, string literals and character classes with
/// `\n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH` escapes, `.`, and `#`
/// comments. A rule ends at the end of its line unless a group is open or
/// the next line starts with `|`.
struct GBNFParser {
    let text: [Unicode.Scalar]
    let source: String
    var position = 0
    /// `{m,n}` bounds above this are refused: each repetition is a rule.
    static let maxRepetition = 10_000
    /// Groups open at once, and postfix operators stacked on one item: the
    /// parser and the rule compiler recurse once per level, so a file of
    /// 100,000 '(' overflowed the stack; real grammars nest a few levels.
    static let maxGroupDepth = 128
    static let maxStackedOperators = 8
    var groupDepth = 0

    init(_ text: String, source: String) {
        self.text = Array(text.unicodeScalars)
        self.source = source
    }

    static func parse(_ text: String, source: String) throws -> GBNFRules {
        var parser = GBNFParser(text, source: source)
        return try parser.rules()
    }

    func error(_ reason: String, at offset: Int? = nil) -> GrammarError {
        let (line, column) = location(offset ?? position)
        return .syntax(source: source, line: line, column: column, reason: reason)
    }

    func location(_ offset: Int) -> (Int, Int) {
        var line = 1, column = 1
        for s in text[..<min(offset, text.count)] {
            if s == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    var current: Unicode.Scalar? { position < text.count ? text[position] : nil }

    /// Skips blanks and comments; newlines too when `newlines`.
    mutating func skipSpace(newlines: Bool) {
        while let s = current {
            if s == " " || s == "\t" || (newlines && (s == "\n" || s == "\r")) {
                position += 1
            } else if s == "#" {
                while let c = current, c != "\n" { position += 1 }
            } else {
                break
            }
        }
    }

    static func isNameCharacter(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) || s == "-" || s == "_"
    }

    mutating func name() -> String? {
        let start = position
        while let s = current, Self.isNameCharacter(s) { position += 1 }
        return position > start ? String(String.UnicodeScalarView(text[start..<position])) : nil
    }

    mutating func rules() throws -> GBNFRules {
        var rules = GBNFRules()
        var definedAt: [String: (Int, Int)] = [:]
        while true {
            skipSpace(newlines: true)
            guard current != nil else { break }
            let start = position
            guard let name = name() else { throw error("expected a rule name") }
            skipSpace(newlines: false)
            guard position + 2 < text.count + 0, text[position] == ":", text[position + 1] == ":", text[position + 2] == "=" else {
                throw error("expected '::=' after rule name '\(name)'")
            }
            position += 3
            skipSpace(newlines: true)
            let body = try alternatives(nested: false)
            if let previous = definedAt[name] {
                let (line, column) = location(start)
                throw GrammarError.syntax(source: source, line: line, column: column,
                                          reason: "rule '\(name)' is defined twice (first at \(previous.0):\(previous.1))")
            }
            definedAt[name] = location(start)
            rules.names.append(name)
            rules.bodies[name] = body
            guard current == nil || current == "\n" || current == "\r" else {
                throw error("unexpected '\(current.map { String($0) } ?? "")' in rule '\(name)'")
            }
        }
        if rules.names.isEmpty { throw error("the grammar defines no rule") }
        return rules
    }

    mutating func alternatives(nested: Bool) throws -> GBNFExpression {
        var choices = [try sequence(nested: nested)]
        while true {
            if current == "|" {
                position += 1
                skipSpace(newlines: true)
                choices.append(try sequence(nested: nested))
                continue
            }
            if !nested {
                // A following line that starts with '|' continues the rule.
                let save = position
                skipSpace(newlines: true)
                if current == "|" { continue }
                position = save
            }
            break
        }
        return choices.count == 1 ? choices[0] : .alternatives(choices)
    }

    mutating func sequence(nested: Bool) throws -> GBNFExpression {
        var items: [GBNFExpression] = []
        while let s = current {
            let itemStart = position
            var item: GBNFExpression
            switch s {
            case "\"":
                position += 1
                var scalars: [Unicode.Scalar] = []
                while true {
                    guard let c = current, c != "\n" else { throw error("unterminated string literal", at: itemStart) }
                    if c == "\"" {
                        position += 1
                        break
                    }
                    scalars.append(try character())
                }
                item = .literal(scalars)
            case "[":
                item = try characterClass()
            case ".":
                position += 1
                item = .characterClass(UTF8Ranges.allScalars)
            case "(":
                guard groupDepth < Self.maxGroupDepth else {
                    throw error("groups nested deeper than \(Self.maxGroupDepth) levels", at: itemStart)
                }
                position += 1
                skipSpace(newlines: true)
                groupDepth += 1
                item = try alternatives(nested: true)
                groupDepth -= 1
                guard current == ")" else { throw error("expected ')' to close the group opened at \(describe(itemStart))") }
                position += 1
            case _ where Self.isNameCharacter(s):
                let (line, column) = location(position)
                let name = name()!
                // `name ::=` starts the next rule: this sequence is over.
                let save = position
                skipSpace(newlines: false)
                if position + 2 < text.count, text[position] == ":", text[position + 1] == ":", text[position + 2] == "=" {
                    // After a '|' at the end of a line: the alternative was empty.
                    var back = itemStart
                    while back > 0, text[back - 1] == " " || text[back - 1] == "\t" { back -= 1 }
                    guard back > 0, text[back - 1] == "\n", !nested else {
                        throw error("missing newline before rule '\(name)'", at: itemStart)
                    }
                    position = back - 1
                    return items.count == 1 ? items[0] : .sequence(items)
                }
                position = save
                item = .rule(name: name, line: line, column: column)
            default:
                return items.count == 1 ? items[0] : .sequence(items)
            }
            skipSpace(newlines: nested)
            // Postfix operators, possibly stacked (`"a"?*` is allowed as in llama.cpp).
            var stacked = 0
            while let op = current {
                if "*+?{".unicodeScalars.contains(op) {
                    stacked += 1
                    guard stacked <= Self.maxStackedOperators else {
                        throw error("more than \(Self.maxStackedOperators) operators stacked on one item")
                    }
                }
                if op == "*" {
                    item = .repetition(item, min: 0, max: nil)
                } else if op == "+" {
                    item = .repetition(item, min: 1, max: nil)
                } else if op == "?" {
                    item = .repetition(item, min: 0, max: 1)
                } else if op == "{" {
                    item = try braces(item)
                    skipSpace(newlines: nested)
                    continue
                } else {
                    break
                }
                position += 1
                skipSpace(newlines: nested)
            }
            items.append(item)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    func describe(_ offset: Int) -> String {
        let (line, column) = location(offset)
        return "\(line):\(column)"
    }

    mutating func braces(_ item: GBNFExpression) throws -> GBNFExpression {
        let open = position
        position += 1
        skipSpace(newlines: false)
        func integer() throws -> Int? {
            var value = 0, count = 0
            while let c = current, ("0"..."9").contains(c) {
                value = value * 10 + Int(c.value - 0x30)
                count += 1
                position += 1
                if value > Self.maxRepetition { throw error("repetition bound above \(Self.maxRepetition)") }
            }
            return count > 0 ? value : nil
        }
        guard let low = try integer() else { throw error("expected a number after '{'") }
        skipSpace(newlines: false)
        var high: Int? = low
        if current == "," {
            position += 1
            skipSpace(newlines: false)
            high = try integer()
            skipSpace(newlines: false)
        }
        guard current == "}" else { throw error("expected '}' to close the repetition opened at \(describe(open))") }
        position += 1
        if let high, high < low { throw error("repetition {\(low),\(high)} has its maximum below its minimum", at: open) }
        return .repetition(item, min: low, max: high)
    }

    /// One character of a literal or class, escapes decoded.
    mutating func character() throws -> Unicode.Scalar {
        guard let c = current else { throw error("unexpected end of grammar") }
        position += 1
        guard c == "\\" else { return c }
        guard let e = current else { throw error("unterminated escape") }
        let escapeStart = position - 1
        position += 1
        switch e {
        case "n": return "\n"
        case "r": return "\r"
        case "t": return "\t"
        case "0": return "\0"
        case "\\", "\"", "[", "]", "-", "^", "'", "/", ".", "(", ")", "|", "*", "+", "?", "{", "}": return e
        case "x", "u", "U":
            let digits = e == "x" ? 2 : e == "u" ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let h = current, h.isASCII, let d = hexDigit(UInt8(h.value)) else {
                    throw error("expected \(digits) hex digits after '\\\(e)'", at: escapeStart)
                }
                value = value << 4 | d
                position += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("'\\\(e)\(String(value, radix: 16))' is not a Unicode scalar (a surrogate or above U+10FFFF)", at: escapeStart)
            }
            return scalar
        default:
            throw error("unknown escape '\\\(e)'", at: escapeStart)
        }
    }

    mutating func characterClass() throws -> GBNFExpression {
        let open = position
        position += 1
        var negated = false
        if current == "^" {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let c = current, c != "\n" else { throw error("unterminated character class", at: open) }
            if c == "]" {
                position += 1
                break
            }
            let low = try character()
            var high = low
            if current == "-", position + 1 < text.count, text[position + 1] != "]" {
                position += 1
                high = try character()
                if high.value < low.value {
                    throw error("character range '\(low.escaped(asASCII: true))-\(high.escaped(asASCII: true))' is reversed")
                }
            }
            ranges.append(low.value...high.value)
        }
        let normalized = UTF8Ranges.normalize(ranges)
        let result = negated ? UTF8Ranges.complement(normalized) : normalized
        if result.isEmpty { throw error("character class matches no character", at: open) }
        return .characterClass(result)
    }
}
