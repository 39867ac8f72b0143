import Foundation

/// ChatML, as SmolLM2's and Qwen's templates render it:
/// `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n` when a generation prompt is wanted; and
/// Gemma's turns (`<start_of_turn>user\n...<end_of_turn>\n`, the assistant
/// called "model", no system role) with the same markers in other words.
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
    /// The role name of assistant turns ("model" in Gemma's template).
    public var assistantRole: String
    /// Gemma: no system turn; a leading system message's text opens the first
    /// user turn, followed by a blank line.
    public var systemInFirstUserTurn: Bool

    public init(startToken: String = "<|im_start|>", endToken: String = "<|im_end|>", defaultSystemMessage: String? = nil,
                assistantRole: String = "assistant", systemInFirstUserTurn: Bool = false) {
        self.startToken = startToken
        self.endToken = endToken
        self.defaultSystemMessage = defaultSystemMessage
        self.assistantRole = assistantRole
        self.systemInFirstUserTurn = systemInFirstUserTurn
    }

    /// Gemma 3's template (instruction-tuned checkpoints; the GGUF of the
    /// 270M base model carries none, so it is chosen by architecture).
    public static let gemma = ChatTemplate(startToken: "<start_of_turn>", endToken: "<end_of_turn>",
                                           assistantRole: "model", systemInFirstUserTurn: true)

    /// SmolLM2-Instruct's template (its GGUF `tokenizer.chat_template`).
    public static let smolLM2 = ChatTemplate(
        defaultSystemMessage: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")

    /// Plain ChatML (Qwen2/Qwen3 without tools).
    public static let chatML = ChatTemplate()

    /// Picks the template for a GGUF's `tokenizer.chat_template` text: SmolLM2's
    /// when it carries that default system message, plain ChatML when it uses
    /// the ChatML markers; nil when it is something else.
    public static func recognising(_ jinja: String) -> ChatTemplate? {
        if jinja.contains("<start_of_turn>"), jinja.contains("<end_of_turn>") { return .gemma }
        guard jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") else { return nil }
        if let s = ChatTemplate.smolLM2.defaultSystemMessage, jinja.contains(s) { return .smolLM2 }
        return .chatML
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        if let system = defaultSystemMessage, messages.first?.role != .system {
            out += "\(startToken)system\n\(system)\(endToken)\n"
        }
        var messages = messages[...]
        var firstUserPrefix = ""
        if systemInFirstUserTurn, let first = messages.first, first.role == .system {
            firstUserPrefix = first.content + "\n\n"
            messages = messages.dropFirst()
        }
        for m in messages {
            let role = m.role == .assistant ? assistantRole : m.role.rawValue
            let content = m.role == .user && !firstUserPrefix.isEmpty ? firstUserPrefix + m.content : m.content
            if m.role == .user { firstUserPrefix = "" }
            out += "\(startToken)\(role)\n\(content)\(endToken)\n"
        }
        if addGenerationPrompt { out += "\(startToken)\(assistantRole)\n" }
        return out
    }
}
