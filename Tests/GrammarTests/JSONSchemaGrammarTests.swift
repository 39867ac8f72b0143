import Foundation
import Models
import Testing
@testable import Grammar

/// JSON schemas compiled to grammars, driven by a random "model" (random
/// logits) under the token constraint: every output that finishes must parse
/// and validate, and the allowed-token masks must equal a brute-force check.
@Suite struct JSONSchemaGrammarTests {
    /// Random schemas tried, and the share of runs that must finish inside
    /// the token budget (the rest are cut off and reported as such).
    static let schemaCount = 80
    static let minimumFinishedShare = 0.9
    static let tokenBudget = 400

    // MARK: a small vocabulary with multi-byte and partial-UTF-8 tokens

    static let pieces: [String] = [
        "{", "}", "[", "]", "\"", ",", ":", " ", "\n", "  ", "{\"", "\":", "\": ", "\",", "\"}", "\"]", ", \"", "},", "],",
        "true", "false", "null", "nu", "ll", "tr", "ue", "-", "0", "1", "12", "345", ".5", "e1", "E-", "e+",
        "\\", "\\n", "\\\"", "\\u", "00", "e9", "D8", "3D", "\\uD83D", "\\uDE00", "\\u00e9", "ab", "name", "id", "tags",
        "é", "日本", "😀", "ö", " the", " a", "\"name", "\"id\"", "red", "green", "blue", "\"red\"", "yes", "no", "[]", "{}", "[[",
        "\t", "\u{7f}", "\\t", "\\/",
    ]

    /// Tokens 0...255 are single bytes (so every byte can be spelled, including
    /// halves of UTF-8 characters); then multi-byte pieces; the last id is EOS.
    static let vocabulary: [[UInt8]?] = {
        var tokens: [[UInt8]?] = (0..<256).map { [UInt8($0)] }
        for p in pieces where p.utf8.count > 1 { tokens.append(Array(p.utf8)) }
        // Halves of a multi-byte character as their own tokens.
        let emoji = Array("😀".utf8)
        tokens.append(Array(emoji[0..<2]))
        tokens.append(Array(emoji[2...]))
        tokens.append(nil)
        return tokens
    }()
    static var eos: Int { vocabulary.count - 1 }
    static let trie = TokenTrie(tokens: vocabulary)

    /// Ends of strings, containers and the sequence are favoured so that
    /// random walks finish; everything else is uniform noise.
    static func logits(_ rng: inout SeededGenerator) -> [Float] {
        vocabulary.indices.map { id in
            var value = Float(rng.nextUnit()) * 4
            if id == eos { value += 6 }
            if let bytes = vocabulary[id], bytes.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: "}") }) {
                value += 3
            }
            return value
        }
    }

    struct Run {
        var text: String
        var finished: Bool
    }

    /// Greedy decoding of random logits under `grammar`; checks each mask against brute force.
    /// `isComplete` says, independently of the grammar, whether the text so far is a whole
    /// valid document: end-of-sequence must be allowed exactly then.
    static func run(_ grammar: Grammar, seed: UInt64, checkMasks: Bool = true, isComplete: ([UInt8]) -> Bool) throws -> Run {
        let constraint = TokenConstraint(grammar: grammar, trie: trie, tokens: vocabulary, endOfSequenceIDs: [eos])
        var rng = SeededGenerator(seed: seed)
        var bytes: [UInt8] = []
        for _ in 0..<tokenBudget {
            if constraint.isComplete { return Run(text: String(decoding: bytes, as: UTF8.self), finished: true) }
            if checkMasks {
                let matcher = constraint.matcher
                for id in vocabulary.indices {
                    let expected: Bool
                    if id == eos {
                        expected = isComplete(bytes)
                    } else if let token = vocabulary[id] {
                        expected = matcher.next(constraint.state, bytes: token) >= 0
                    } else {
                        expected = false
                    }
                    if constraint.isAllowed(id) != expected {
                        Issue.record("token \(id) \(vocabulary[id].map { String(decoding: $0, as: UTF8.self) } ?? "nil") allowed=\(!expected) after \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                        return Run(text: "", finished: false)
                    }
                }
            }
            var l = logits(&rng)
            try constraint.mask(&l)
            let next = l.indices.max { l[$0] < l[$1] }!
            if next == eos {
                #expect(isComplete(bytes), "end of sequence after \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                return Run(text: String(decoding: bytes, as: UTF8.self), finished: true)
            }
            #expect(constraint.accept(next))
            bytes += vocabulary[next]!
        }
        return Run(text: String(decoding: bytes, as: UTF8.self), finished: constraint.isComplete)
    }

    // MARK: random schemas

    struct SchemaMaker {
        var rng: SeededGenerator
        let names = ["id", "name", "naïve", "quo\\\"te", "a b", "tags", "score", "日本", "x/y"]

        mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

        mutating func schema(depth: Int, defs: Bool) -> String {
            let kinds = depth > 0 ? 14 : 9
            switch pick(kinds) {
            case 0: return #"{"type": "string"}"#
            case 1:
                let low = pick(3)
                return #"{"type": "string", "minLength": \#(low), "maxLength": \#(low + pick(6))}"#
            case 2: return #"{"type": "string", "enum": ["red", "green", "blue", "gr\"ey", "ünïcode"]}"#
            case 3: return #"{"type": "integer"}"#
            case 4: return #"{"type": "number", "description": "ignored"}"#
            case 5: return #"{"type": "boolean"}"#
            case 6: return #"{"type": ["string", "null"]}"#
            case 7: return #"{"const": {"k": [1, 2.5, "v"]}}"#
            case 8: return defs ? ##"{"$ref": "#/$defs/item"}"## : #"{"enum": [1, "one", null, true]}"#
            case 9, 10:
                let count = 1 + pick(4)
                var used = Set<String>()
                var properties: [String] = []
                var required: [String] = []
                for _ in 0..<count {
                    let name = names[pick(names.count)]
                    guard used.insert(name).inserted else { continue }
                    properties.append("\"\(name)\": \(schema(depth: depth - 1, defs: defs))")
                    if pick(2) == 0 { required.append("\"\(name)\"") }
                }
                return #"{"type": "object", "properties": {\#(properties.joined(separator: ", "))}, "required": [\#(required.joined(separator: ", "))], "additionalProperties": false}"#
            case 11:
                let low = pick(3)
                let high = pick(2) == 0 ? "" : #", "maxItems": \#(low + pick(3))"#
                return #"{"type": "array", "items": \#(schema(depth: depth - 1, defs: defs)), "minItems": \#(low)\#(high)}"#
            case 12:
                return #"{"anyOf": [{"type": "integer"}, \#(schema(depth: depth - 1, defs: defs))]}"#
            default:
                return #"{"oneOf": [{"type": "null"}, {"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "string", "maxLength": 3}], "items": false}]}"#
            }
        }

        mutating func document() -> String {
            if pick(3) == 0 {
                let item = schema(depth: 1, defs: false)
                let body = schema(depth: 2, defs: true)
                return #"{"$defs": {"item": \#(item)}, "anyOf": [\#(body)]}"#
            }
            return schema(depth: 3, defs: false)
        }
    }

    @Test func randomSchemasAlwaysYieldValidJSON() throws {
        var maker = SchemaMaker(rng: SeededGenerator(seed: 2024))
        var finished = 0
        for k in 0..<Self.schemaCount {
            let text = maker.document()
            let grammar = try JSONSchemaGrammar.grammar(schema: text, source: "schema \(k)")
            let schema = try JSONValue(parsing: text)
            let validator = SchemaValidator(root: schema)
            let run = try Self.run(grammar, seed: UInt64(k), checkMasks: k % 4 == 0) { bytes in
                guard let value = try? JSONValue(parsing: String(decoding: bytes, as: UTF8.self)) else { return false }
                return validator.errors(value, schema) == nil
            }
            guard run.finished else { continue }
            finished += 1
            if ProcessInfo.processInfo.environment["GRAMMAR_DEBUG"] != nil { print("SCHEMA \(text)\nOUT \(run.text)") }
            let data = Data(run.text.utf8)
            #expect((try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil,
                    "schema \(k) \(text)\noutput \(run.text.debugDescription) does not parse with JSONSerialization")
            guard let value = try? JSONValue(parsing: run.text) else {
                Issue.record("schema \(k): output \(run.text.debugDescription) does not parse")
                continue
            }
            let problem = SchemaValidator(root: schema).errors(value, schema)
            #expect(problem == nil, "schema \(k) \(text)\noutput \(run.text)\n\(problem ?? "")")
        }
        if ProcessInfo.processInfo.environment["GRAMMAR_DEBUG"] != nil { print("FINISHED \(finished)") }
        #expect(Double(finished) >= Self.minimumFinishedShare * Double(Self.schemaCount), "\(finished) of \(Self.schemaCount) finished")
    }

    @Test func jsonObjectFormatYieldsObjects() throws {
        let grammar = try JSONSchemaGrammar.jsonObject()
        var finished = 0
        for seed in 0..<20 as Range<UInt64> {
            let run = try Self.run(grammar, seed: seed, checkMasks: seed < 3) { bytes in
                (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any]
            }
            guard run.finished else { continue }
            finished += 1
            let object = try? JSONSerialization.jsonObject(with: Data(run.text.utf8))
            #expect(object is [String: Any], "\(run.text.debugDescription)")
        }
        #expect(finished >= 18)
    }

    @Test func propertiesFollowTheSchemaOrderAndOptionalsMayBeLeftOut() throws {
        let m = GrammarMatcher(try JSONSchemaGrammar.grammar(schema: #"""
            {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "string"}, "c": {"type": "boolean"}},
             "required": ["b"]}
            """#))
        #expect(m.matches(#"{"b": 1}"#))
        #expect(m.matches(#"{"b": 1, "c": true}"#))
        #expect(m.matches(#"{ "b":1,"a":"x","c":false }"#))
        #expect(!m.matches(#"{"a": "x", "b": 1}"#))
        #expect(!m.matches(#"{}"#))
        #expect(!m.matches(#"{"b": 1, "d": 2}"#))
        let optional = GrammarMatcher(try JSONSchemaGrammar.grammar(schema: #"{"properties": {"x": {"type": "null"}, "y": {"type": "null"}}}"#))
        for text in ["{}", #"{"x": null}"#, #"{"y": null}"#, #"{"x": null, "y": null}"#] { #expect(optional.matches(text), "\(text)") }
        #expect(!optional.matches(#"{"y": null, "x": null}"#))
        #expect(!optional.matches(#"{, "y": null}"#))
    }

    @Test func stringEscapesAndLengthsCountCharacters() throws {
        let m = GrammarMatcher(try JSONSchemaGrammar.grammar(schema: #"{"type": "string", "minLength": 2, "maxLength": 3}"#))
        #expect(m.matches(#""ab""#))
        #expect(m.matches(#""é😀\n""#))
        #expect(m.matches(#""\u00e9\uD83D\uDE00""#))
        #expect(!m.matches(#""a""#))
        #expect(!m.matches(#""abcd""#))
        #expect(!m.matches(#""\uD83Dx""#))  // lone surrogate
        #expect(!m.matches("\"a\u{1}\""))  // raw control character
        #expect(!m.matches(#""\q""#))
    }

    @Test func arraysHonourBoundsAndNesting() throws {
        let m = GrammarMatcher(try JSONSchemaGrammar.grammar(schema: #"""
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}, "minItems": 1, "maxItems": 2}
            """#))
        #expect(m.matches("[[]]"))
        #expect(m.matches("[[1, 2], [3]]"))
        #expect(!m.matches("[]"))
        #expect(!m.matches("[[1], [2], [3]]"))
        #expect(!m.matches("[[1.5]]"))
    }

    @Test func recursiveReferences() throws {
        let m = GrammarMatcher(try JSONSchemaGrammar.grammar(schema: #"""
            {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
              "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v", "kids"]}},
             "$ref": "#/$defs/node"}
            """#))
        #expect(m.matches(#"{"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3, "kids": [{"v": 4, "kids": []}]}]}"#))
        #expect(!m.matches(#"{"v": 1, "kids": [{"v": 2}]}"#))
    }

    // MARK: errors

    @Test func unsupportedKeywordsNameTheirPointer() {
        #expect(throws: GrammarError.unsupportedSchema(pointer: "#/pattern", reason: "keyword 'pattern' is not supported")) {
            try JSONSchemaGrammar.grammar(schema: #"{"type": "string", "pattern": "^a"}"#)
        }
        #expect(throws: GrammarError.unsupportedSchema(pointer: "#/properties/a~1b/minimum", reason: "keyword 'minimum' is not supported")) {
            try JSONSchemaGrammar.grammar(schema: #"{"type": "object", "properties": {"a/b": {"type": "integer", "minimum": 0}}}"#)
        }
        #expect(throws: GrammarError.unsupportedSchema(
            pointer: "#/$ref", reason: "only local references '#/$defs/NAME' or '#/definitions/NAME' are supported, got 'https://example.com/s.json'")) {
            try JSONSchemaGrammar.grammar(schema: #"{"$ref": "https://example.com/s.json"}"#)
        }
    }

    @Test func badSchemasSayWhere() {
        do {
            _ = try JSONSchemaGrammar.grammar(schema: "{\"type\": \"string\",\n  \"x\": }", source: "s.json")
            Issue.record("no error")
        } catch let GrammarError.invalidSchema(source, reason) {
            #expect(source == "s.json")
            #expect(reason.contains("s.json:2:8"), "\(reason)")
        } catch {
            Issue.record("\(error)")
        }
        // Each bad schema names what is wrong and the JSON pointer where, nested ones included.
        let cases: [(schema: String, reason: String)] = [
            (#"{"type": "strin"}"#, "unknown type 'strin' at '#'"),
            (#"{"properties": {"a": {"type": "strin"}}}"#, "unknown type 'strin' at '#/properties/a'"),
            (##"{"$ref": "#/$defs/missing"}"##, "'$ref' at '#/$ref': '#/$defs/missing' is not defined"),
            (#"{"enum": []}"#, "'enum' at '#' must be a non-empty array"),
            (#"[1]"#, "the schema at '#' is not an object or a boolean"),
            (#"{"type": "array", "minItems": 3, "maxItems": 1}"#, "maxItems < minItems at '#'"),
            (#"{"type": "array", "items": {"type": "string", "maxLength": -1}}"#, "'maxLength' at '#/items' must be a non-negative integer"),
        ]
        for (bad, reason) in cases {
            #expect(throws: GrammarError.invalidSchema(source: "s.json", reason: reason), "\(bad)") {
                try JSONSchemaGrammar.grammar(schema: bad, source: "s.json")
            }
        }
        #expect(throws: GrammarError.unsupportedSchema(pointer: "#/required", reason: "required property 'z' has no schema in 'properties'")) {
            try JSONSchemaGrammar.grammar(schema: #"{"type": "object", "properties": {"a": {}}, "required": ["z"]}"#)
        }
    }
}
