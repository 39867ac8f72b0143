import LanguageModels

/// The JSON schema of a stage's answer, matching the type ModelOutputParser
/// decodes it into. Sent with every request of the stage: the native engine
/// decodes under the schema's grammar (so even a 135M model writes the
/// object), an OpenAI-compatible server gets it as
/// `response_format: {"type": "json_schema", ...}`. The parser still reads
/// the answer, so a backend that ignores the schema works as before.
///
/// String lengths are bounded so that a constrained answer closes its
/// object well within the stage's `max_tokens` (a cut-off object is what a
/// grammar cannot prevent).
public struct StructuredOutput: Sendable, Hashable {
    public var name: String
    /// The schema as JSON text.
    public var schema: String

    public init(name: String, schema: String) {
        self.name = name
        self.schema = schema
    }

    static func string(maxLength: Int, minLength: Int = 1) -> String {
        "{\"type\": \"string\", \"minLength\": \(minLength), \"maxLength\": \(maxLength)}"
    }

    static func object(_ properties: [(String, String)]) -> String {
        let body = properties.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
        let required = properties.map { "\"\($0.0)\"" }.joined(separator: ", ")
        return "{\"type\": \"object\", \"properties\": {\(body)}, \"required\": [\(required)], \"additionalProperties\": false}"
    }

    /// `QueryAnswer`; an instruction is required (non-empty) only when one is asked for.
    public static func query(wantsInstruction: Bool) -> StructuredOutput {
        StructuredOutput(name: "query", schema: object([
            ("query", string(maxLength: 400)),
            ("instruction", string(maxLength: 300, minLength: wantsInstruction ? 1 : 0)),
        ]))
    }

    /// `JudgeAnswer`: the verdict first, then a short reason.
    public static let judge = StructuredOutput(name: "relevance", schema: object([
        ("relevant", "{\"type\": \"boolean\"}"),
        ("reason", string(maxLength: 200, minLength: 0)),
    ]))

    /// `PositivesAnswer` / `NegativesAnswer` with exactly `count` passages.
    public static func passages(key: String, count: Int) -> StructuredOutput {
        StructuredOutput(name: key, schema: object([
            (key, "{\"type\": \"array\", \"items\": \(string(maxLength: 1600)), \"minItems\": \(count), \"maxItems\": \(count)}"),
        ]))
    }

    /// `TraceAnswer`.
    public static let reasoning = StructuredOutput(name: "reasoning", schema: object([("reasoning", string(maxLength: 1200))]))

    public var responseFormat: ResponseFormat { .jsonSchema(name: name, schema: schema) }

    /// Attaches the schema to a request.
    func apply(to request: inout GenerationRequest) {
        request.responseFormat = responseFormat
    }
}
