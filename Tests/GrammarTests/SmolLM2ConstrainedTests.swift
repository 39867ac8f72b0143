import Foundation
import Grammar
import LanguageModels
import Models
import Testing
import TestSupport

/// The real SmolLM2 (byte-level BPE, 49,152 tokens, multi-byte and partial
/// UTF-8 tokens) under a JSON schema: what it writes parses and validates.
/// Few tokens: the debug build decodes slowly.
@Suite struct SmolLM2ConstrainedTests {
    static let schema = #"{"type": "object", "properties": {"label": {"enum": ["true", "false"]}, "score": {"type": "integer"}}, "required": ["label", "score"], "additionalProperties": false}"#

    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func smolLM2WritesValidJSONUnderASchema() async throws {
        let model = try NativeLanguageModel(gguf: Assets.smollm2GGUF)
        let request = GenerationRequest(
            messages: [ChatMessage(.user, "Is 'wing flutter' about aeroelasticity? Answer as JSON.")],
            maxTokens: 24, responseFormat: .jsonSchema(name: "judgement", schema: Self.schema))
        let (text, usage) = try await model.generateReportingUsage(request)
        let value = try JSONValue(parsing: text)
        let parsed = try JSONValue(parsing: Self.schema)
        #expect(SchemaValidator(root: parsed).errors(value, parsed) == nil, "\(text)")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(text)")
        #expect((usage?.completionTokens ?? 99) < 24)
    }
}
