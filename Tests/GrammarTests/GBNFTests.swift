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
}
