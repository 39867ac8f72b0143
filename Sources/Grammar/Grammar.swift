/// A set of bytes (one terminal of the byte-level grammar).
struct ByteSet: Hashable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    init(_ range: ClosedRange<UInt8>) {
        for b in range { insert(b) }
    }

    @inline(__always) func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// A context-free grammar compiled to byte-level terminals, ready to match
/// UTF-8 text one byte at a time (see `GrammarMatcher`).
///
/// Every rule is a list of alternatives, each a run of elements ending in
/// `.end`; an element is a byte set or a call of another rule. Repetitions
/// become right-recursive helper rules and character classes over
/// non-ASCII code points become rules whose alternatives are the UTF-8 byte
/// sequences of the class, so a token that ends in the middle of a
/// character is matched as far as its bytes go.
public struct Grammar: Sendable, Equatable {
    enum Element: Hashable, Sendable {
        case bytes(Int32)
        case rule(Int32)
        case end
    }

    /// Names the grammar in errors ("schema.json", "<json_object>").
    public let source: String
    let elements: [Element]
    let byteSets: [ByteSet]
    /// Start positions (in `elements`) of each rule's alternatives.
    let alternatives: [[Int32]]
    let ruleNames: [String]
    let root: Int32

    /// Parses GBNF text; the start symbol is the rule named `root`.
    public init(gbnf text: String, source: String = "<grammar>") throws {
        let rules = try GBNFParser.parse(text, source: source)
        var compiler = GrammarCompiler(source: source, rules: rules)
        try compiler.compile()
        self.source = source
        elements = compiler.elements
        byteSets = compiler.byteSets
        alternatives = compiler.alternativeStarts
        ruleNames = compiler.ruleNames
        root = compiler.root
    }
}

/// Lowers parsed GBNF rules to `Grammar`'s flat element array.
struct GrammarCompiler {
    let source: String
    let rules: GBNFRules
    var ruleNames: [String] = []
    var ruleIDs: [String: Int32] = [:]
    var ruleBodies: [[[Grammar.Element]]] = []
    var byteSets: [ByteSet] = []
    var byteSetIDs: [ByteSet: Int32] = [:]
    var classRules: [[ClosedRange<UInt32>]: Int32] = [:]
    var elements: [Grammar.Element] = []
    var alternativeStarts: [[Int32]] = []
    var root: Int32 = 0

    init(source: String, rules: GBNFRules) {
        self.source = source
        self.rules = rules
    }

    mutating func compile() throws {
        for name in rules.names { _ = newRule(name) }
        guard let rootID = ruleIDs["root"] else { throw GrammarError.undefinedRule(name: "root", source: source) }
        root = rootID
        for name in rules.names {
            guard let body = rules.bodies[name], let id = ruleIDs[name] else { continue }
            ruleBodies[Int(id)] = try alternatives(body)
        }
        try checkLeftRecursion()
        for body in ruleBodies {
            var starts: [Int32] = []
            for alternative in body {
                starts.append(Int32(elements.count))
                elements.append(contentsOf: alternative)
                elements.append(.end)
            }
            alternativeStarts.append(starts)
        }
    }

    mutating func newRule(_ name: String) -> Int32 {
        var unique = name
        var k = 1
        while ruleIDs[unique] != nil {
            k += 1
            unique = "\(name)-\(k)"
        }
        let id = Int32(ruleNames.count)
        ruleNames.append(unique)
        ruleIDs[unique] = id
        ruleBodies.append([])
        return id
    }

    mutating func byteSet(_ set: ByteSet) -> Grammar.Element {
        if let id = byteSetIDs[set] { return .bytes(id) }
        let id = Int32(byteSets.count)
        byteSets.append(set)
        byteSetIDs[set] = id
        return .bytes(id)
    }

    mutating func alternatives(_ expression: GBNFExpression) throws -> [[Grammar.Element]] {
        if case .alternatives(let choices) = expression {
            return try choices.map { try sequence($0) }
        }
        return [try sequence(expression)]
    }

    mutating func sequence(_ expression: GBNFExpression) throws -> [Grammar.Element] {
        switch expression {
        case .sequence(let items):
            var out: [Grammar.Element] = []
            for item in items { out += try sequence(item) }
            return out
        case .literal(let scalars):
            var out: [Grammar.Element] = []
            for s in scalars {
                for b in String(Character(s)).utf8 { out.append(byteSet(ByteSet(b...b))) }
            }
            return out
        case .characterClass(let ranges):
            return [try characterClass(ranges)]
        case let .rule(name, line, column):
            guard let id = ruleIDs[name], rules.bodies[name] != nil else {
                throw GrammarError.undefinedRule(name: name, source: "\(source):\(line):\(column)")
            }
            return [.rule(id)]
        case .alternatives:
            let id = newRule("group")
            ruleBodies[Int(id)] = try alternatives(expression)
            return [.rule(id)]
        case let .repetition(item, minimum, maximum):
            let body = try sequence(item)
            if body.isEmpty { return [] }
            var out: [Grammar.Element] = []
            for _ in 0..<minimum { out += body }
            if let maximum {
                // x{0,k}: o_k ::= x o_{k-1} | ε, o_1 ::= x | ε.
                var tail: Grammar.Element?
                if maximum > minimum {
                    for _ in 0..<(maximum - minimum) {
                        let id = newRule("repeat")
                        ruleBodies[Int(id)] = [body + (tail.map { [$0] } ?? []), []]
                        tail = .rule(id)
                    }
                }
                if let tail { out.append(tail) }
            } else {
                let id = newRule("star")
                ruleBodies[Int(id)] = [body + [.rule(id)], []]
                out.append(.rule(id))
            }
            return out
        }
    }

    /// One byte set for an ASCII-only class, else a rule with one
    /// alternative per UTF-8 byte-range sequence (shared between uses).
    mutating func characterClass(_ ranges: [ClosedRange<UInt32>]) throws -> Grammar.Element {
        let sequences = UTF8Ranges.sequences(ranges)
        var single = ByteSet()
        var multi: [[ClosedRange<UInt8>]] = []
        for s in sequences {
            if s.count == 1 {
                for b in s[0] { single.insert(b) }
            } else {
                multi.append(s)
            }
        }
        if multi.isEmpty { return byteSet(single) }
        if let id = classRules[ranges] { return .rule(id) }
        let id = newRule("class")
        var body: [[Grammar.Element]] = []
        if single != ByteSet() { body.append([byteSet(single)]) }
        for s in multi { body.append(s.map { byteSet(ByteSet($0)) }) }
        ruleBodies[Int(id)] = body
        classRules[ranges] = id
        return .rule(id)
    }

    /// A rule that can call itself before consuming a byte would expand
    /// forever while matching; refuse it as llama.cpp does.
    func checkLeftRecursion() throws {
        var nullable = [Bool](repeating: false, count: ruleBodies.count)
        var changed = true
        while changed {
            changed = false
            for (r, body) in ruleBodies.enumerated() where !nullable[r] {
                let canBeEmpty = body.contains { alternative in
                    alternative.allSatisfy { if case .rule(let c) = $0 { return nullable[Int(c)] } else { return false } }
                }
                if canBeEmpty {
                    nullable[r] = true
                    changed = true
                }
            }
        }
        var leftCalls = [[Int32]](repeating: [], count: ruleBodies.count)
        for (r, body) in ruleBodies.enumerated() {
            for alternative in body {
                for element in alternative {
                    guard case .rule(let callee) = element else { break }
                    leftCalls[r].append(callee)
                    if !nullable[Int(callee)] { break }
                }
            }
        }
        // Iterative DFS with colours: 1 on the path, 2 finished.
        var colour = [UInt8](repeating: 0, count: ruleBodies.count)
        for start in 0..<ruleBodies.count where colour[start] == 0 {
            var stack: [(Int, Int)] = [(start, 0)]
            colour[start] = 1
            while let (r, next) = stack.last {
                if next < leftCalls[r].count {
                    stack[stack.count - 1].1 += 1
                    let callee = Int(leftCalls[r][next])
                    if colour[callee] == 1 {
                        let named = stack.map(\.0).reversed().first { !isHelper(ruleNames[$0]) } ?? callee
                        throw GrammarError.leftRecursion(rule: ruleNames[named], source: source)
                    }
                    if colour[callee] == 0 {
                        colour[callee] = 1
                        stack.append((callee, 0))
                    }
                } else {
                    colour[r] = 2
                    stack.removeLast()
                }
            }
        }
    }

    func isHelper(_ name: String) -> Bool {
        rules.bodies[name] == nil
    }
}
