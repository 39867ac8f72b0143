import Foundation
import Models
import Testing
@testable import Grammar

/// A token budget must not cut a constrained answer open: with `remaining`
/// tokens left the mask keeps only tokens after which the grammar can still
/// be closed. Its bound, `GrammarMatcher.minimumCompletion`, is checked
/// against a breadth-first search over bytes; decoding random logits under
/// tight budgets must end in complete, valid JSON whenever the budget allows
/// it at all.
@Suite struct BudgetedDecodingTests {
    typealias Vocabulary = JSONSchemaGrammarTests

    /// Fewest bytes to an accepting state, by brute force over all 256 bytes
    /// (nil beyond `limit`).
    static func searchedCompletion(_ matcher: GrammarMatcher, from start: GrammarMatcher.State, limit: Int) -> Int? {
        var seen: Set<GrammarMatcher.State> = [start]
        var frontier = [start]
        for depth in 0...limit {
            if frontier.contains(where: matcher.isAccepting) { return depth }
            var next: [GrammarMatcher.State] = []
            for state in frontier {
                for byte in 0...255 {
                    let s = matcher.next(state, UInt8(byte))
                    if s >= 0, seen.insert(s).inserted { next.append(s) }
                }
            }
            frontier = next
        }
        return nil
    }

    @Test func minimumCompletionIsTheShortestPathToAcceptance() throws {
        let gbnf = #"""
        root ::= "ab" tail | "c" digits
        tail ::= "x" tail | "yz"
        digits ::= [0-9]*
        """#
        let m = GrammarMatcher(try Grammar(gbnf: gbnf))
        // "c" is the shortest sentence; after "a" the fewest are "b" "yz".
        #expect(m.minimumCompletion(m.initialState) == 1)
        #expect(m.minimumCompletion(m.next(m.initialState, bytes: "a".utf8)) == 3)
        #expect(m.minimumCompletion(m.next(m.initialState, bytes: "abxx".utf8)) == 2)
        #expect(m.minimumCompletion(m.next(m.initialState, bytes: "c12".utf8)) == 0)
        #expect(m.minimumCompletion(GrammarMatcher.dead) == GrammarMatcher.unreachable)

        // On schema grammars, every state met along random outputs agrees with the search.
        var maker = JSONSchemaGrammarTests.SchemaMaker(rng: SeededGenerator(seed: 77))
        var compared = 0
        for k in 0..<30 {
            let grammar = try JSONSchemaGrammar.grammar(schema: maker.document(), source: "schema \(k)")
            let matcher = GrammarMatcher(grammar)
            let run = try Self.decode(grammar, budget: 200, seed: UInt64(k))
            var state = matcher.initialState
            for byte in Array(run.text.utf8).prefix(60) {
                let bound = matcher.minimumCompletion(state)
                if bound <= 12 {
                    #expect(Self.searchedCompletion(matcher, from: state, limit: 12) == bound, "schema \(k) at \(state)")
                    compared += 1
                }
                state = matcher.next(state, byte)
                if state < 0 { break }
            }
        }
        #expect(compared >= 100, "only \(compared) states compared")
    }

    /// Greedy decoding of logits that favour long, open-ended content (no
    /// closing bytes favoured), with `budget` tokens.
    static func decode(_ grammar: Grammar, budget: Int, seed: UInt64) throws -> (text: String, complete: Bool) {
        let vocabulary = Vocabulary.vocabulary
        let constraint = TokenConstraint(grammar: grammar, trie: Vocabulary.trie, tokens: vocabulary, endOfSequenceIDs: [Vocabulary.eos])
        var rng = SeededGenerator(seed: seed)
        var bytes: [UInt8] = []
        for used in 0..<budget {
            if constraint.isComplete { break }
            var logits = vocabulary.indices.map { id -> Float in
                var value = Float(rng.nextUnit()) * 4
                if let token = vocabulary[id], token.count > 1 { value += 2 }
                if id == Vocabulary.eos { value -= 8 }
                return value
            }
            try constraint.mask(&logits, remaining: budget - used)
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            if next == Vocabulary.eos { break }
            #expect(constraint.accept(next))
            bytes += vocabulary[next]!
        }
        return (String(decoding: bytes, as: UTF8.self), constraint.isAccepting)
    }

    @Test func tightBudgetsStillCloseTheAnswer() throws {
        let grammar = try JSONSchemaGrammar.grammar(schema: #"""
        {"type": "object", "properties": {"query": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
         "required": ["query", "tags"], "additionalProperties": false}
        """#)
        let shortest = GrammarMatcher(grammar).minimumCompletion(GrammarMatcher(grammar).initialState)
        var plainCutOpen = 0
        for budget in [shortest, shortest + 1, shortest + 3, 30, 60] {
            for seed in 0..<6 as Range<UInt64> {
                let run = try Self.decode(grammar, budget: budget, seed: seed)
                #expect(run.complete, "budget \(budget) seed \(seed): \(run.text.debugDescription) left open")
                let value = try? JSONSerialization.jsonObject(with: Data(run.text.utf8)) as? [String: Any]
                #expect(value?["query"] is String && value?["tags"] is [Any], "\(run.text.debugDescription)")
                // The same logits without the budget run out of tokens mid-answer.
                let constraint = TokenConstraint(grammar: grammar, trie: Vocabulary.trie, tokens: Vocabulary.vocabulary,
                                                 endOfSequenceIDs: [Vocabulary.eos])
                var rng = SeededGenerator(seed: seed)
                for _ in 0..<budget {
                    var logits = Vocabulary.vocabulary.indices.map { id -> Float in
                        var value = Float(rng.nextUnit()) * 4
                        if let token = Vocabulary.vocabulary[id], token.count > 1 { value += 2 }
                        if id == Vocabulary.eos { value -= 8 }
                        return value
                    }
                    if constraint.isComplete { break }
                    try constraint.mask(&logits)
                    let next = logits.indices.max { logits[$0] < logits[$1] }!
                    if next == Vocabulary.eos { break }
                    constraint.accept(next)
                }
                if !constraint.isAccepting { plainCutOpen += 1 }
            }
        }
        // Otherwise the test would not be testing the budget.
        #expect(plainCutOpen >= 10, "only \(plainCutOpen) of 30 unbudgeted runs were cut open")
    }

    @Test func aBudgetBelowTheShortestAnswerIsBestEffortNotAnError() throws {
        let grammar = try JSONSchemaGrammar.grammar(schema: #"{"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}"#)
        let matcher = GrammarMatcher(grammar)
        let shortest = matcher.minimumCompletion(matcher.initialState)
        // No token of this vocabulary spells more than a few bytes of it.
        let run = try Self.decode(grammar, budget: 3, seed: 3)
        #expect(!run.complete && shortest > 10)
        // Every token went toward the close, at least a byte each.
        #expect(matcher.minimumCompletion(matcher.next(matcher.initialState, bytes: run.text.utf8)) <= shortest - 3)
    }
}
