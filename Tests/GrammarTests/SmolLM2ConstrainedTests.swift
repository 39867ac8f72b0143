import Foundation
import Grammar
import LanguageModels
import Models
import Testing
import TestSupport

/// The real SmolLM2 (byte-level BPE, 49,152 tokens, multi-byte and partial
/// UTF-8 tokens) under JSON schemas: what it writes parses and validates.
@Suite struct SmolLM2ConstrainedTests {
    static let schemas = [
        #"{"type": "object", "properties": {"query": {"type": "string", "maxLength": 60}, "relevant": {"type": "boolean"}}, "required": ["query", "relevant"], "additionalProperties": false}"#,
        #"{"type": "object", "properties": {"label": {"enum": ["true", "false"]}, "score": {"type": "integer"}}, "required": ["label", "score"]}"#,
        #"{"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 2, "maxItems": 3}"#,
    ]

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func smolLM2WritesValidJSONUnderSchemas() async throws {
        let model = try NativeLanguageModel(gguf: Assets.smollm2GGUF)
        for (i, schema) in Self.schemas.enumerated() {
            let request = GenerationRequest(
                messages: [ChatMessage(.user, "Write a search query about supersonic wing flutter and judge it, as JSON.")],
                maxTokens: 60, responseFormat: .jsonSchema(name: "s\(i)", schema: schema))
            let text = try await model.generate(request)
            let value = try JSONValue(parsing: text)
            let parsed = try JSONValue(parsing: schema)
            #expect(SchemaValidator(root: parsed).errors(value, parsed) == nil, "schema \(i): \(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil, "\(text)")
        }
        // json_object: any object.
        let object = try await model.generate(GenerationRequest(
            messages: [ChatMessage(.user, "Describe a wing as JSON.")], maxTokens: 60, responseFormat: .jsonObject))
        #expect((try? JSONSerialization.jsonObject(with: Data(object.utf8))) is [String: Any], "\(object)")
    }
}
