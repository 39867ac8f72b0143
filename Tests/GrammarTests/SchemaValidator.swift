import Foundation
@testable import Grammar

/// An independent check of the schema subset `JSONSchemaGrammar` enforces,
/// written from the JSON Schema 2020-12 text (not from the converter), so
/// that a grammar bug shows up as a validation failure.
struct SchemaValidator {
    let root: JSONValue

    /// nil when `instance` is valid under `schema`, else why not.
    func errors(_ instance: JSONValue, _ schema: JSONValue, at path: String = "$") -> String? {
        if case .bool(let b) = schema { return b ? nil : "\(path): false schema" }
        if case .string(let reference)? = schema["$ref"] {
            let parts = reference.split(separator: "/").map(String.init)
            guard parts.count == 3, let target = root[parts[1]]?[parts[2]] else { return "\(path): bad $ref \(reference)" }
            return errors(instance, target, at: path)
        }
        if let constant = schema["const"], !Self.equal(constant, instance) { return "\(path): not the const" }
        if case .array(let values)? = schema["enum"], !values.contains(where: { Self.equal($0, instance) }) {
            return "\(path): not in enum"
        }
        if case .array(let branches)? = schema["anyOf"] {
            if !branches.contains(where: { errors(instance, $0, at: path) == nil }) { return "\(path): no anyOf branch" }
        }
        if case .array(let branches)? = schema["oneOf"] {
            let valid = branches.filter { errors(instance, $0, at: path) == nil }.count
            if valid != 1 { return "\(path): \(valid) oneOf branches match" }
        }
        if let type = schema["type"] {
            var types: [String] = []
            if case .string(let t) = type { types = [t] }
            if case .array(let list) = type { types = list.compactMap { if case .string(let t) = $0 { return t } else { return nil } } }
            if !types.contains(where: { Self.hasType(instance, $0) }) { return "\(path): not of type \(types)" }
        }
        switch instance {
        case .string(let text):
            let length = text.unicodeScalars.count
            if let low = Self.int(schema["minLength"]), length < low { return "\(path): shorter than \(low)" }
            if let high = Self.int(schema["maxLength"]), length > high { return "\(path): longer than \(high)" }
        case .array(let items):
            if let low = Self.int(schema["minItems"]), items.count < low { return "\(path): fewer than \(low) items" }
            if let high = Self.int(schema["maxItems"]), items.count > high { return "\(path): more than \(high) items" }
            var prefixCount = 0
            if case .array(let prefix)? = schema["prefixItems"] {
                prefixCount = prefix.count
                for (i, (item, s)) in zip(items, prefix).enumerated() {
                    if let e = errors(item, s, at: "\(path)[\(i)]") { return e }
                }
            }
            if let itemSchema = schema["items"] {
                for (i, item) in items.enumerated().dropFirst(prefixCount) {
                    if let e = errors(item, itemSchema, at: "\(path)[\(i)]") { return e }
                }
            }
        case .object(let members):
            let properties: [(key: String, value: JSONValue)]
            if case .object(let p)? = schema["properties"] { properties = p } else { properties = [] }
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where !members.contains(where: { $0.key == name }) {
                    return "\(path): missing required '\(name)'"
                }
            }
            for (key, value) in members {
                if let s = properties.first(where: { $0.key == key })?.value {
                    if let e = errors(value, s, at: "\(path).\(key)") { return e }
                } else if let extra = schema["additionalProperties"] {
                    if let e = errors(value, extra, at: "\(path).\(key)") { return e }
                }
            }
        default:
            break
        }
        return nil
    }

    static func int(_ value: JSONValue?) -> Int? {
        guard case .number(let text)? = value else { return nil }
        return Int(text)
    }

    static func hasType(_ instance: JSONValue, _ type: String) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number):
            return true
        case ("integer", .number(let text)):
            guard let value = Double(text) else { return false }
            return value == value.rounded()
        default:
            return false
        }
    }

    /// JSON equality: numbers by value, objects regardless of key order.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return Double(x) == Double(y)
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy(equal)
        case let (.object(x), .object(y)):
            return x.count == y.count && x.allSatisfy { m in y.contains { $0.key == m.key && equal($0.value, m.value) } }
        default: return a == b
        }
    }
}
