import Foundation
import Testing

/// Checks a decoded JSON value against a schema of the server's OpenAPI
/// document: `$ref`, `type`, `required`, `properties`, `items`, `oneOf`,
/// `nullable`, `enum`. Enough to catch a handler and the document drifting apart.
/// Unchecked: `document` is a parsed JSON tree that is never mutated after init.
struct OpenAPIValidator: @unchecked Sendable {
    let document: [String: Any]

    init(json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ValidationFailure(messages: ["openapi.json is not an object"])
        }
        document = object
    }

    struct ValidationFailure: Error, CustomStringConvertible {
        var messages: [String]
        var description: String { messages.joined(separator: "; ") }
    }

    func schema(named name: String) -> [String: Any] {
        ["$ref": "#/components/schemas/\(name)"]
    }

    /// The 200 schema of an operation, for `contentType`.
    func responseSchema(path: String, method: String, status: String = "200",
                        contentType: String = "application/json") -> [String: Any]? {
        let paths = document["paths"] as? [String: Any]
        let operation = (paths?[path] as? [String: Any])?[method] as? [String: Any]
        let response = (operation?["responses"] as? [String: Any])?[status] as? [String: Any]
        let content = (response?["content"] as? [String: Any])?[contentType] as? [String: Any]
        return content?["schema"] as? [String: Any]
    }

    func validate(_ value: Any, against schema: [String: Any]) throws {
        var messages: [String] = []
        check(value, schema, path: "$", into: &messages)
        if !messages.isEmpty { throw ValidationFailure(messages: messages) }
    }

    /// The schema a `$ref` points to, followed to the end; nil when a
    /// reference does not resolve (a renamed or missing schema), which
    /// `check` reports instead of accepting anything.
    private func resolve(_ schema: [String: Any], depth: Int = 0) -> [String: Any]? {
        guard let ref = schema["$ref"] as? String else { return schema }
        guard ref.hasPrefix("#/"), depth < 32 else { return nil }
        var node: Any? = document
        for part in ref.dropFirst(2).split(separator: "/") {
            node = (node as? [String: Any])?[String(part)]
        }
        guard let target = node as? [String: Any] else { return nil }
        return resolve(target, depth: depth + 1)
    }

    private func check(_ value: Any, _ rawSchema: [String: Any], path: String, into messages: inout [String]) {
        guard let schema = resolve(rawSchema) else {
            messages.append("\(path): unresolvable $ref \(rawSchema["$ref"] as? String ?? "?")")
            return
        }
        if value is NSNull {
            if schema["nullable"] as? Bool != true { messages.append("\(path): null not allowed") }
            return
        }
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matches = options.filter { option in
                var inner: [String] = []
                check(value, option, path: path, into: &inner)
                return inner.isEmpty
            }
            if matches.isEmpty { messages.append("\(path): matches none of oneOf") }
            return
        }
        if let type = schema["type"] as? String {
            let ok: Bool
            switch type {
            case "object": ok = value is [String: Any]
            case "array": ok = value is [Any]
            case "string": ok = value is String
            case "boolean": ok = isBoolean(value)
            case "integer":
                ok = !isBoolean(value) && (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } ?? false
            case "number": ok = !isBoolean(value) && value is NSNumber
            default: ok = true
            }
            if !ok {
                messages.append("\(path): expected \(type), got \(Swift.type(of: value))")
                return
            }
        }
        if let allowed = schema["enum"] as? [Any], let text = value as? String,
           !allowed.contains(where: { ($0 as? String) == text }) {
            messages.append("\(path): '\(text)' not in enum")
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                messages.append("\(path): missing required '\(key)'")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] {
                    check(child, childSchema, path: path + "." + key, into: &messages)
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    check(child, additional, path: path + "." + key, into: &messages)
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, element) in array.enumerated() {
                check(element, items, path: "\(path)[\(index)]", into: &messages)
            }
        }
    }
}

/// JSONSerialization boxes booleans in their own NSNumber subclass.
private func isBoolean(_ value: Any) -> Bool {
    value is Bool && String(describing: type(of: value)).contains("Boolean") || type(of: value) == Bool.self
}

@Test func unresolvableReferencesAreErrors() throws {
    let validator = try OpenAPIValidator(json: #"""
        {"components": {"schemas": {"Renamed": {"type": "object", "required": ["id"]},
                                    "Alias": {"$ref": "#/components/schemas/Renamed"}}}}
        """#)
    let value: [String: Any] = ["id": "x"]
    try validator.validate(value, against: validator.schema(named: "Renamed"))
    try validator.validate(value, against: validator.schema(named: "Alias"))
    #expect(throws: OpenAPIValidator.ValidationFailure.self) { try validator.validate(value, against: validator.schema(named: "Original")) }
    #expect(throws: OpenAPIValidator.ValidationFailure.self) {
        try validator.validate(value, against: ["$ref": "https://example.com/schema.json"])
    }
    // A reference inside a schema is checked too, not only at the top.
    #expect(throws: OpenAPIValidator.ValidationFailure.self) {
        try validator.validate(["items": [value]], against: ["type": "object", "properties": ["items": ["type": "array", "items": ["$ref": "#/components/schemas/Gone"]]]])
    }
}
