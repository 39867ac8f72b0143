import Foundation
import Testing
@testable import Grammar

/// GBNF parsing and byte-level matching: escapes, classes, Unicode, repetition, errors.
@Suite struct GBNFTests {
    static func matcher(_ gbnf: String) throws -> GrammarMatcher { GrammarMatcher(try Grammar(gbnf: gbnf)) }

    @Test func literalsWithEscapesMatchExactly() throws {
        let m = try Self.matcher(#"root ::= "a\n\t\"\\\x41\u00e9\U0001F600""#)
        #expect(m.matches("a\n\t\"\\Aé😀"))
        #expect(!m.matches("a\n\t\"\\Aé"))
        #expect(m.matches("a\n\t\"\\Aé", complete: false))
        #expect(!m.matches("a\n\t\"\\Ae", complete: false))
    }

    @Test func negatedClassesExcludeTheirCharactersAndKeepUnicode() throws {
        let m = try Self.matcher(#"root ::= "\"" [^"\\]* "\"""#)
        #expect(m.matches(#""héllo wörld 日本 😀""#))
        #expect(!m.matches(#""a"b""#))
        #expect(!m.matches(#""a\b""#))
        #expect(m.matches(#""""#))
    }

    @Test func nonASCIIRangesMatchWholeCharactersByteByByte() throws {
        let m = try Self.matcher("root ::= [α-ω]+")
        #expect(m.matches("αβγω"))
        #expect(!m.matches("αa"))
        #expect(!m.matches("Α"))  // capital alpha, U+0391, below the range
        // The first byte of β is a valid prefix; a lone continuation byte is not.
        let beta = Array("β".utf8)
        #expect(m.next(m.initialState, beta[0]) >= 0)
        #expect(!m.isAccepting(m.next(m.initialState, beta[0])))
        #expect(m.next(m.initialState, beta[1]) == GrammarMatcher.dead)
    }

    @Test func rangesAcrossEncodingLengthsMatchExactlyTheirScalars() throws {
        // U+0070 ... U+0800 spans one-, two- and three-byte encodings.
        let m = try Self.matcher(#"root ::= [\x70-\u0800]"#)
        for value: UInt32 in [0x6F, 0x70, 0x7F, 0x80, 0x3B1, 0x7FF, 0x800, 0x801, 0xFFFF] {
            let text = String(Character(Unicode.Scalar(value)!))
            #expect(m.matches(text) == (0x70...0x800).contains(value), "U+\(String(value, radix: 16))")
        }
    }

    @Test func anyCharacterMatchesOneScalarOfAnyLength() throws {
        let m = try Self.matcher("root ::= . . .")
        #expect(m.matches("a\n😀"))
        #expect(!m.matches("ab"))
        #expect(!m.matches("abcd"))
    }

    @Test func enumsOfAlternativesAcceptOnlyWholeWords() throws {
        let m = try Self.matcher(#"root ::= ("red" | "green" | "greenish") "!""#)
        #expect(m.matches("red!"))
        #expect(m.matches("green!"))
        #expect(m.matches("greenish!"))
        #expect(!m.matches("gre!"))
        #expect(m.matches("gree", complete: false))
        #expect(!m.matches("blue", complete: false))
    }

    @Test func repetitionBounds() throws {
        let m = try Self.matcher(#"root ::= "a"{2,3} "b"{2} "c"{1,} "d"?"#)
        #expect(m.matches("aabbc"))
        #expect(m.matches("aaabbcccd"))
        #expect(!m.matches("abbc"))
        #expect(!m.matches("aaaabbc"))
        #expect(!m.matches("aabbbc"))
        #expect(!m.matches("aabb"))
        #expect(!m.matches("aabbcdd"))
    }

    @Test func nestedArraysThroughRecursionAndComments() throws {
        let gbnf = #"""
        # Arrays of numbers nested to any depth.
        root  ::= array   # the start
        array ::= "[" ( item ( "," item )* )? "]"
        item  ::= array
                | [0-9]+
        """#
        let m = try Self.matcher(gbnf)
        #expect(m.matches("[]"))
        #expect(m.matches("[[1,[2,[]]],3]"))
        #expect(!m.matches("[[1,2]"))
        #expect(!m.matches("[1,]"))
    }

    @Test func completeMeansNothingMayFollow() throws {
        let m = try Self.matcher(#"root ::= "ab" "c"?"#)
        let ab = m.next(m.initialState, bytes: "ab".utf8)
        #expect(m.isAccepting(ab) && !m.isComplete(ab))
        let abc = m.next(ab, UInt8(ascii: "c"))
        #expect(m.isComplete(abc))
    }

    @Test func aStarLoopReturnsToOneState() throws {
        // Tail calls push nothing: the states inside a long string do not grow.
        let m = try Self.matcher(#"root ::= "\"" [a-z]* "\"""#)
        _ = m.next(m.initialState, bytes: "\"abcdefghijklmnopqrstuvwxyz".utf8)
        let before = m.stateCount
        _ = m.next(m.initialState, bytes: "\"zyxwvutsrqponmlkjihgfedcbaabc".utf8)
        #expect(m.stateCount == before)
        #expect(before <= 3)
    }

    // MARK: errors

    static func syntaxError(_ gbnf: String) -> (line: Int, column: Int, reason: String)? {
        do {
            _ = try Grammar(gbnf: gbnf, source: "g.gbnf")
            return nil
        } catch let GrammarError.syntax(source, line, column, reason) {
            #expect(source == "g.gbnf")
            return (line, column, reason)
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func syntaxErrorsNameLineAndColumn() {
        let unterminated = Self.syntaxError("root ::= x\nx ::= \"abc")
        #expect(unterminated?.line == 2 && unterminated?.column == 7)
        #expect(unterminated?.reason.contains("unterminated") == true)
        let escape = Self.syntaxError(#"root ::= "a\q""#)
        #expect(escape?.line == 1 && escape?.column == 12)
        let braces = Self.syntaxError(#"root ::= "a"{3,1}"#)
        #expect(braces?.reason.contains("maximum below its minimum") == true)
        let group = Self.syntaxError(#"root ::= ("a" | "b""#)
        #expect(group?.reason.contains("')'") == true)
        let reversed = Self.syntaxError("root ::= [z-a]")
        #expect(reversed?.reason.contains("reversed") == true)
        let twice = Self.syntaxError("root ::= \"a\"\nroot ::= \"b\"")
        #expect(twice?.line == 2 && twice?.reason.contains("defined twice") == true)
        let noAssign = Self.syntaxError("root = \"a\"")
        #expect(noAssign?.reason.contains("::=") == true)
        let surrogate = Self.syntaxError(#"root ::= "\uD800""#)
        #expect(surrogate?.reason.contains("not a Unicode scalar") == true)
    }

    /// 100,000 nested groups overflowed the parser's stack (a crash, found by
    /// feeding `generate --grammar` hostile files); the limits are errors now,
    /// and the deepest accepted grammar compiles and matches.
    @Test func nestingBeyondTheLimitsIsAnErrorNotACrash() throws {
        let limit = GBNFParser.maxGroupDepth
        let deep = Self.syntaxError("root ::= " + String(repeating: "(", count: 100_000) + "\"a\"" + String(repeating: ")", count: 100_000))
        #expect(deep?.line == 1 && deep?.column == 10 + limit && deep?.reason == "groups nested deeper than \(limit) levels")
        let stacked = Self.syntaxError(#"root ::= "a""# + String(repeating: "?", count: 9))
        #expect(stacked?.column == 21 && stacked?.reason == "more than 8 operators stacked on one item")
        // At the limits: `limit` groups, each closed by 8 stacked operators.
        let ops = String(repeating: "{1}", count: GBNFParser.maxStackedOperators)
        let deepest = "root ::= " + String(repeating: "(", count: limit) + "\"a\"" + String(repeating: ")" + ops, count: limit)
        let m = try Self.matcher(deepest)
        #expect(m.matches("a") && !m.matches("aa") && !m.matches("b"))
    }

    @Test func undefinedRulesAndMissingRootAreNamed() {
        #expect(throws: GrammarError.undefinedRule(name: "value", source: "g.gbnf:1:14")) {
            try Grammar(gbnf: #"root ::= "a" value"#, source: "g.gbnf")
        }
        #expect(throws: GrammarError.undefinedRule(name: "root", source: "g.gbnf")) {
            try Grammar(gbnf: #"start ::= "a""#, source: "g.gbnf")
        }
    }

    @Test func leftRecursionIsRefused() {
        #expect(throws: GrammarError.leftRecursion(rule: "expr", source: "g")) {
            try Grammar(gbnf: "root ::= expr\nexpr ::= expr \"+\" [0-9] | [0-9]", source: "g")
        }
        // A repetition of something that can be empty loops the same way.
        #expect(throws: GrammarError.leftRecursion(rule: "root", source: "g")) { try Grammar(gbnf: #"root ::= ("a"?)* "b""#, source: "g") }
    }
}
