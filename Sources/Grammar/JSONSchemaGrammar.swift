/// JSON schemas and plain JSON as GBNF.
///
/// Supported: `type` (one or a list), `properties`/`required`/
/// `additionalProperties` (extra properties are never generated, which any
/// schema allows; a schema-valued `additionalProperties` without
/// `properties` is a map), `items`/`minItems`/`maxItems`, `prefixItems`,
/// `enum`, `const`, `minLength`/`maxLength`, `anyOf`/`oneOf` (alternatives;
/// `oneOf` branches are assumed disjoint), `$ref` to `#/$defs/...` or
/// `#/definitions/...` (recursion allowed), and the annotations (`title`,
/// `description`, `default`, `examples`, `format`, ...), which are ignored.
/// Anything that would constrain values in a way this converter cannot
/// enforce (`pattern`, `minimum`, `allOf`, ...) is refused with its JSON pointer.
///
/// Properties come out in the schema's order, required ones first. Between
/// tokens the output may hold one space or a newline and up to 20 blanks,
/// as llama.cpp allows, so a model cannot stall on endless whitespace.
public enum JSONSchemaGrammar {
    /// The shared rules every generated grammar may use.
    static let primitives: [(String, String)] = [
        ("ws", #"| " " | "\n" [ \t]{0,20}"#),
        ("string", #""\"" char* "\"""#),
        ("char", #"[^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" hex4)"#),
        // No lone surrogates: JSON parsers reject them. A pair is allowed.
        ("hex4", #"[0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [dD] [89abAB] [0-9a-fA-F]{2} "\\u" [dD] [c-fC-F] [0-9a-fA-F]{2}"#),
        // Digit runs are bounded so that every value fits a Double / Int64.
        ("integer", #""-"? ("0" | [1-9] [0-9]{0,15})"#),
        ("number", #""-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?"#),
        ("boolean", #""true" | "false""#),
        ("null", #""null""#),
        ("value", #"object | array | string | number | boolean | null"#),
        ("object", #""{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}""#),
        ("array", #""[" ws ( value ws ( "," ws value ws )* )? "]""#),
    ]

    /// Any JSON object (OpenAI's `json_object` response format).
    public static var jsonObjectGBNF: String {
        "root ::= object\n" + primitives.map { "\($0.0) ::= \($0.1)" }.joined(separator: "\n") + "\n"
    }

    /// OpenAI's rule for `json_schema.name`: 1 to 64 of a-z, A-Z, 0-9, '_' and '-'.
    public static func isValidSchemaName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.count <= 64 && name.unicodeScalars.allSatisfy(GBNFParser.isNameCharacter)
    }

    public static func jsonObject() throws -> Grammar {
        try Grammar(gbnf: jsonObjectGBNF, source: "<json_object>")
    }

    /// The GBNF for `schema` (JSON text).
    public static func gbnf(schema text: String, source: String = "<schema>") throws -> String {
        let schema: JSONValue
        do {
            schema = try JSONValue(parsing: text, source: source)
        } catch let error as GrammarError {
            throw GrammarError.invalidSchema(source: source, reason: error.description)
        }
        var converter = SchemaConverter(root: schema, source: source)
        return try converter.convert()
    }

    public static func grammar(schema text: String, source: String = "<schema>") throws -> Grammar {
        try Grammar(gbnf: gbnf(schema: text, source: source), source: source)
    }
}

struct SchemaConverter {
    let root: JSONValue
    let source: String
    var rules: [(String, String)] = []
    var used: Set<String> = []
    /// `$ref` targets already given a rule (set before converting, for recursion).
    var references: [String: String] = [:]

    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "format", "readOnly",
        "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "$defs", "definitions", "strict", "nullable",
    ]
    static let handled: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "prefixItems",
        "enum", "const", "minLength", "maxLength", "anyOf", "oneOf", "$ref",
    ]

    init(root: JSONValue, source: String) {
        self.root = root
        self.source = source
    }

    mutating func convert() throws -> String {
        let body = try expression(root, pointer: "")
        var text = "root ::= \(body)\n"
        for (name, rule) in rules { text += "\(name) ::= \(rule)\n" }
        // Only the primitives reachable from what was generated; `value` pulls in the rest.
        var needed = used
        if needed.contains("object") || needed.contains("array") { needed.insert("value") }
        if needed.contains("value") { needed.formUnion(["object", "array", "string", "number", "boolean", "null"]) }
        if !needed.isEmpty { needed.insert("ws") }
        if needed.contains("string") || needed.contains("value") { needed.formUnion(["char", "hex4"]) }
        for (name, rule) in JSONSchemaGrammar.primitives where needed.contains(name) { text += "\(name) ::= \(rule)\n" }
        return text
    }

    func unsupported(_ pointer: String, _ reason: String) -> GrammarError {
        .unsupportedSchema(pointer: pointer.isEmpty ? "#" : "#" + pointer, reason: reason)
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// A GBNF literal for exact text.
    static func literal(_ text: String) -> String {
        var out = "\""
        for s in text.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where s.value < 0x20 || s.value == 0x7F: out += "\\x" + String(s.value, radix: 16).leftPadded(2)
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }

    mutating func rule(_ hint: String, _ body: String) -> String {
        var base = hint.unicodeScalars.map { GBNFParser.isNameCharacter($0) ? String($0) : "-" }.joined()
        if base.isEmpty || base.count > 40 { base = String(base.prefix(40)) + "x" }
        var name = base
        var k = 1
        let reserved = Set(JSONSchemaGrammar.primitives.map(\.0) + ["root"])
        while reserved.contains(name) || rules.contains(where: { $0.0 == name }) || references.values.contains(name) {
            k += 1
            name = "\(base)-\(k)"
        }
        rules.append((name, body))
        return name
    }

    func integer(_ schema: JSONValue, _ key: String, _ pointer: String) throws -> Int? {
        guard let value = schema[key] else { return nil }
        guard case .number(let text) = value, let n = Int(text) ?? Double(text).flatMap({ $0 == $0.rounded() ? Int(exactly: $0) : nil }),
              n >= 0 else {
            throw GrammarError.invalidSchema(source: source, reason: "'\(key)' at '#\(pointer)' must be a non-negative integer")
        }
        guard n <= GBNFParser.maxRepetition else { throw unsupported(pointer + "/" + key, "bounds above \(GBNFParser.maxRepetition)") }
        return n
    }

    mutating func expression(_ schema: JSONValue, pointer: String) throws -> String {
        switch schema {
        case .bool(true):
            used.insert("value")
            return "value"
        case .bool(false):
            throw unsupported(pointer, "the schema 'false' matches nothing")
        case .object(let members):
            for (key, _) in members where !Self.annotations.contains(key) && !Self.handled.contains(key) {
                throw unsupported(pointer + "/" + Self.escape(key), "keyword '\(key)' is not supported")
            }
        default:
            throw GrammarError.invalidSchema(source: source, reason: "the schema at '#\(pointer)' is not an object or a boolean")
        }
        if let reference = schema["$ref"] {
            guard case .string(let target) = reference else {
                throw GrammarError.invalidSchema(source: source, reason: "'$ref' at '#\(pointer)' is not a string")
            }
            return try resolve(target, pointer: pointer + "/$ref")
        }
        if let constant = schema["const"] {
            return Self.literal(constant.compactText)
        }
        if let values = schema["enum"] {
            guard case .array(let items) = values, !items.isEmpty else {
                throw GrammarError.invalidSchema(source: source, reason: "'enum' at '#\(pointer)' must be a non-empty array")
            }
            return "(" + items.map { Self.literal($0.compactText) }.joined(separator: " | ") + ")"
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let branches = schema[keyword] else { continue }
            guard case .array(let items) = branches, !items.isEmpty else {
                throw GrammarError.invalidSchema(source: source, reason: "'\(keyword)' at '#\(pointer)' must be a non-empty array")
            }
            var choices: [String] = []
            for (i, item) in items.enumerated() {
                choices.append(try expression(item, pointer: "\(pointer)/\(keyword)/\(i)"))
            }
            return "(" + choices.joined(separator: " | ") + ")"
        }
        var types: [String]
        switch schema["type"] {
        case nil:
            if schema["properties"] != nil || schema["additionalProperties"] != nil { types = ["object"] }
            else if schema["items"] != nil || schema["prefixItems"] != nil { types = ["array"] }
            else if schema["minLength"] != nil || schema["maxLength"] != nil { types = ["string"] }
            else {
                used.insert("value")
                return "value"
            }
        case .string(let t)?: types = [t]
        case .array(let list)?:
            types = try list.map {
                guard case .string(let t) = $0 else {
                    throw GrammarError.invalidSchema(source: source, reason: "'type' at '#\(pointer)' must hold strings")
                }
                return t
            }
            if types.isEmpty { throw GrammarError.invalidSchema(source: source, reason: "'type' at '#\(pointer)' is empty") }
        default:
            throw GrammarError.invalidSchema(source: source, reason: "'type' at '#\(pointer)' must be a string or an array")
        }
        let choices = try types.map { try typed($0, schema, pointer: pointer) }
        return choices.count == 1 ? choices[0] : "(" + choices.joined(separator: " | ") + ")"
    }

    mutating func resolve(_ target: String, pointer: String) throws -> String {
        if let name = references[target] { return name }
        let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "#", ["$defs", "definitions"].contains(parts[1]) else {
            throw unsupported(pointer, "only local references '#/$defs/NAME' or '#/definitions/NAME' are supported, got '\(target)'")
        }
        let key = parts[2].replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        guard let definition = root[parts[1]]?[key] else {
            throw GrammarError.invalidSchema(source: source, reason: "'$ref' at '#\(pointer)': '\(target)' is not defined")
        }
        // Reserve the name first so that recursive references resolve to it.
        let name = rule("def-" + key, "")
        references[target] = name
        let body = try expression(definition, pointer: "/\(parts[1])/\(Self.escape(key))")
        if let index = rules.firstIndex(where: { $0.0 == name }) { rules[index].1 = body }
        return name
    }

    mutating func typed(_ type: String, _ schema: JSONValue, pointer: String) throws -> String {
        switch type {
        case "string":
            let low = try integer(schema, "minLength", pointer) ?? 0
            let high = try integer(schema, "maxLength", pointer)
            used.insert("string")
            guard low > 0 || high != nil else { return "string" }
            if let high, high < low { throw GrammarError.invalidSchema(source: source, reason: "maxLength < minLength at '#\(pointer)'") }
            return rule("string" + pointer, #""\"" char{\#(low),\#(high.map(String.init) ?? "")} "\"""#)
        case "integer", "number", "boolean", "null":
            used.insert(type)
            return type
        case "object":
            return try object(schema, pointer: pointer)
        case "array":
            return try array(schema, pointer: pointer)
        default:
            throw GrammarError.invalidSchema(source: source, reason: "unknown type '\(type)' at '#\(pointer)'")
        }
    }

    mutating func object(_ schema: JSONValue, pointer: String) throws -> String {
        var properties: [(key: String, value: JSONValue)] = []
        if let value = schema["properties"] {
            guard case .object(let members) = value else {
                throw GrammarError.invalidSchema(source: source, reason: "'properties' at '#\(pointer)' must be an object")
            }
            properties = members
        }
        var required: [String] = []
        if let value = schema["required"] {
            guard case .array(let items) = value else {
                throw GrammarError.invalidSchema(source: source, reason: "'required' at '#\(pointer)' must be an array of strings")
            }
            for item in items {
                guard case .string(let name) = item else {
                    throw GrammarError.invalidSchema(source: source, reason: "'required' at '#\(pointer)' must be an array of strings")
                }
                guard properties.contains(where: { $0.key == name }) else {
                    throw unsupported(pointer + "/required", "required property '\(name)' has no schema in 'properties'")
                }
                required.append(name)
            }
        }
        used.insert("ws")
        if properties.isEmpty {
            switch schema["additionalProperties"] {
            case .object?:
                let value = try expression(schema["additionalProperties"]!, pointer: pointer + "/additionalProperties")
                used.insert("string")
                let pair = #"string ws ":" ws \#(value) ws"#
                return rule("map" + pointer, #""{" ws ( \#(pair) ( "," ws \#(pair) )* )? "}""#)
            case .bool(false)?:
                return #""{" ws "}""#
            default:
                used.insert("object")
                return "object"
            }
        }
        var pairs: [String: String] = [:]
        for (key, value) in properties {
            let valueExpression = try expression(value, pointer: pointer + "/properties/" + Self.escape(key))
            pairs[key] = Self.literal(JSONValue.quoted(key)) + #" ws ":" ws "# + valueExpression + " ws"
        }
        let requiredPairs = properties.filter { required.contains($0.key) }.map { pairs[$0.key]! }
        let optionalPairs = properties.filter { !required.contains($0.key) }.map { pairs[$0.key]! }
        var body = #""{" ws "#
        if !requiredPairs.isEmpty {
            body += requiredPairs.joined(separator: #" "," ws "#)
            for pair in optionalPairs { body += #" ( "," ws \#(pair) )?"# }
        } else {
            // The first present optional property has no comma before it.
            var choices: [String] = []
            for (i, pair) in optionalPairs.enumerated() {
                let rest = optionalPairs[(i + 1)...].map { #" ( "," ws \#($0) )?"# }.joined()
                choices.append(pair + rest)
            }
            body += "( " + choices.map { "( \($0) )" }.joined(separator: " | ") + " )?"
        }
        body += #" "}""#
        return rule("object" + pointer, body)
    }

    mutating func array(_ schema: JSONValue, pointer: String) throws -> String {
        used.insert("ws")
        var prefix: [String] = []
        if let value = schema["prefixItems"] {
            guard case .array(let items) = value else {
                throw GrammarError.invalidSchema(source: source, reason: "'prefixItems' at '#\(pointer)' must be an array")
            }
            for (i, item) in items.enumerated() { prefix.append(try expression(item, pointer: "\(pointer)/prefixItems/\(i)") + " ws") }
        }
        var item: String?
        switch schema["items"] {
        case nil: item = prefix.isEmpty ? "value" : nil
        case .bool(false)?: item = nil
        case let value?: item = try expression(value, pointer: pointer + "/items")
        }
        if item == "value" { used.insert("value") }
        let low = try integer(schema, "minItems", pointer) ?? 0
        var high = try integer(schema, "maxItems", pointer)
        if item == nil { high = min(high ?? prefix.count, prefix.count) }
        if let high, high < low { throw GrammarError.invalidSchema(source: source, reason: "maxItems < minItems at '#\(pointer)'") }
        if low > prefix.count && item == nil {
            throw GrammarError.invalidSchema(source: source, reason: "minItems \(low) at '#\(pointer)' exceeds the \(prefix.count) prefixItems")
        }
        // Element i is prefix item i, then `item`; elements from `low` on are
        // optional, each together with everything after it. An unbounded
        // array spells out max(low, prefixItems + 1) elements and repeats
        // `item` after the last.
        func element(_ i: Int) -> String { i < prefix.count ? prefix[i] : "\(item!) ws" }
        var body: String
        var count: Int
        if let high {
            body = ""
            count = high
        } else {
            body = #"( "," ws \#(item!) ws )*"#
            count = max(low, prefix.count + 1)
        }
        while count > 0 {
            count -= 1
            let separator = count == 0 ? "" : #""," ws "#
            let piece = separator + element(count) + (body.isEmpty ? "" : " " + body)
            body = count >= low ? "( \(piece) )?" : piece
        }
        return rule("array" + pointer, #""[" ws \#(body) "]""#)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
