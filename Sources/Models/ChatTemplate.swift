import Foundation

/// ChatML, as SmolLM2's and Qwen's templates render it:
/// `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n` when a generation prompt is wanted.
///
/// The Jinja template shipped in a GGUF (`tokenizer.chat_template`) is not
/// interpreted; instead the one behaviour beyond plain ChatML that SmolLM2's
/// template has, a default system message when the conversation starts
/// without one, is a field here.
public struct ChatTemplate: Sendable, Equatable {
    public var startToken: String
    public var endToken: String
    /// Inserted first when the first message is not a system message (nil: none).
    public var defaultSystemMessage: String?

    public init(startToken: String = "<|im_start|>", endToken: String = "<|im_end|>", defaultSystemMessage: String? = nil) {
        self.startToken = startToken
        self.endToken = endToken
        self.defaultSystemMessage = defaultSystemMessage
    }

    /// SmolLM2-Instruct's template (its GGUF `tokenizer.chat_template`).
    public static let smolLM2 = ChatTemplate(
        defaultSystemMessage: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")

    /// Plain ChatML (Qwen2/Qwen3 without tools).
    public static let chatML = ChatTemplate()

    /// Picks the template for a GGUF's `tokenizer.chat_template` text: SmolLM2's
    /// when it carries that default system message, plain ChatML when it uses
    /// the ChatML markers; nil when it is something else.
    public static func recognising(_ jinja: String) -> ChatTemplate? {
        guard jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") else { return nil }
        if let s = ChatTemplate.smolLM2.defaultSystemMessage, jinja.contains(s) { return .smolLM2 }
        return .chatML
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        if let system = defaultSystemMessage, messages.first?.role != .system {
            out += "\(startToken)system\n\(system)\(endToken)\n"
        }
        for m in messages {
            out += "\(startToken)\(m.role.rawValue)\n\(m.content)\(endToken)\n"
        }
        if addGenerationPrompt { out += "\(startToken)assistant\n" }
        return out
    }
}
