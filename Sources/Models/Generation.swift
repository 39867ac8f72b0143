import Foundation
import Grammar
import ModelFormats
import Tensor
import Tokenizers

/// What a generation run may do.
public struct GenerationParameters: Sendable, Equatable {
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Generation ends when the decoded text contains one of these; the text
    /// returned stops before it.
    public var stop: [String]
    /// End at the model's end-of-sequence token(s) (not included in the output).
    public var stopAtEndOfSequence: Bool
    /// When set, only tokens that keep the output a prefix of a sentence of
    /// this grammar are sampled, and generation ends (`.endOfSequence`) as
    /// soon as the output is complete and nothing may follow. A run cut off
    /// by `maxTokens` ends with `.length` and its text may not parse.
    public var grammar: Grammar?

    public init(maxTokens: Int, sampling: SamplingParameters = .greedy, stop: [String] = [],
                stopAtEndOfSequence: Bool = true, grammar: Grammar? = nil) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.stopAtEndOfSequence = stopAtEndOfSequence
        self.grammar = grammar
    }
}

public struct GenerationResult: Sendable, Equatable {
    public enum FinishReason: String, Sendable, Equatable, Codable {
        case endOfSequence = "eos"
        case stop
        /// `maxTokens` reached (a run that would not fit the context is
        /// refused up front instead).
        case length
    }

    public var text: String
    /// Generated ids (the end-of-sequence token excluded).
    public var tokens: [Int]
    public var promptTokens: Int
    public var finishReason: FinishReason
}

/// A decoder with its tokenizer and chat template: text in, text out.
public struct TextGenerator: Sendable {
    public var model: LlamaModel
    public var tokenizer: Tokenizer
    public var chatTemplate: ChatTemplate
    public var endOfSequenceIDs: Set<Int>
    public var identifier: String
    /// Prepended to every prompt when the checkpoint asks for it (a GGUF's
    /// `tokenizer.ggml.add_bos_token`: Gemma's `<bos>`); nil: none.
    public var beginningOfSequenceID: Int?
    /// The token trie for constrained decoding, built on first use and shared by copies.
    public let constrainedVocabulary = ConstrainedVocabulary()

    public init(model: LlamaModel, tokenizer: Tokenizer, chatTemplate: ChatTemplate = .chatML,
                endOfSequenceIDs: Set<Int>, identifier: String, beginningOfSequenceID: Int? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.endOfSequenceIDs = endOfSequenceIDs
        self.identifier = identifier
        self.beginningOfSequenceID = beginningOfSequenceID
    }

    /// Model, tokenizer and template from one GGUF file. The template's end
    /// marker (ChatML's `<|im_end|>`, Gemma's `<end_of_turn>`) also ends
    /// generation, as it ends an assistant turn. A GGUF without a template
    /// gets its architecture's (Gemma's turns for gemma3), else ChatML.
    public init(gguf url: URL) throws {
        let file = try GGUFFile(contentsOf: url)
        model = try LlamaModel(gguf: url)
        tokenizer = try Tokenizer(gguf: file)
        let m = file.metadata
        let jinja = try m.string("tokenizer.chat_template", default: "")
        chatTemplate = ChatTemplate.recognising(jinja) ?? (model.options.architecture == "gemma3" ? .gemma : .chatML)
        var eos = Set(model.configuration.eosTokenIds)
        if let end = tokenizer.tokenID(for: chatTemplate.endToken) { eos.insert(end) }
        endOfSequenceIDs = eos
        identifier = url.deletingPathExtension().lastPathComponent
        // llama.cpp's rule: BOS when the GGUF says so (absent: for an SPM vocabulary only).
        let addsBOS = try m.bool("tokenizer.ggml.add_bos_token",
                                 default: try m.string("tokenizer.ggml.model", default: "") == "llama")
        beginningOfSequenceID = addsBOS ? model.configuration.bosTokenId : nil
    }

    /// The text's ids, without BOS: pieces to concatenate, candidate answers.
    public func encode(_ text: String) -> [Int] { tokenizer.tokenize(text) }

    /// The ids of a whole prompt: `encode` after BOS when the model wants one.
    public func encodePrompt(_ text: String) -> [Int] {
        (beginningOfSequenceID.map { [$0] } ?? []) + encode(text)
    }

    /// Token ids of a prompt: the text as is, or rendered as one user turn
    /// with the chat template's generation prompt (BOS first when wanted).
    public func promptTokens(_ prompt: String, chat: Bool) -> [Int] {
        encodePrompt(chat ? chatTemplate.render([ChatMessage(.user, prompt)]) : prompt)
    }

    public func generate(prompt: String, chat: Bool = false, parameters: GenerationParameters) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
        return try generate(tokens: promptTokens(prompt, chat: chat), parameters: parameters)
    }

    public func generate(messages: [ChatMessage], parameters: GenerationParameters) throws -> GenerationResult {
        guard !messages.isEmpty else { throw ModelsError.invalidInput("no chat messages") }
        return try generate(tokens: encodePrompt(chatTemplate.render(messages)), parameters: parameters)
    }

    /// Prefills `prompt` in one batch, then decodes one token at a time.
    /// `onToken` sees each new id as it is chosen (for streaming / progress).
    /// `constraint` (reset here; reuse one across runs to keep its caches)
    /// takes the place of `parameters.grammar`.
    public func generate(tokens prompt: [Int], parameters: GenerationParameters,
                         constraint given: TokenConstraint? = nil,
                         onToken: ((Int) -> Void)? = nil) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
        guard parameters.maxTokens >= 0 else {
            throw ModelsError.invalidInput("max tokens must be >= 0, got \(parameters.maxTokens)")
        }
        try parameters.sampling.validate()
        try checkCapacity(promptTokens: prompt.count, maxTokens: parameters.maxTokens)
        let budget = parameters.maxTokens
        var result = GenerationResult(text: "", tokens: [], promptTokens: prompt.count, finishReason: .length)
        guard budget > 0 else { return result }
        var cache = model.makeCache(capacity: prompt.count + budget)
        var sampler = Sampler(parameters.sampling)
        let constraint = given ?? parameters.grammar.map { makeConstraint(for: $0) }
        constraint?.reset()
        if constraint?.isComplete == true {
            result.finishReason = .endOfSequence
            return result
        }
        var logits = try model.prefill(prompt, cache: &cache)
        while result.tokens.count < budget {
            try constraint?.mask(&logits, remaining: budget - result.tokens.count)
            let next = sampler.sample(logits)
            if parameters.stopAtEndOfSequence || constraint != nil, endOfSequenceIDs.contains(next) {
                result.finishReason = .endOfSequence
                break
            }
            result.tokens.append(next)
            onToken?(next)
            if let constraint {
                guard constraint.accept(next) else {
                    throw ModelsError.invalidInput("constrained decoding sampled token \(next), which \(constraint.matcher.grammar.source) rejects")
                }
                if constraint.isComplete {
                    result.finishReason = .endOfSequence
                    break
                }
            }
            if !parameters.stop.isEmpty {
                let text = tokenizer.decode(result.tokens)
                if let cut = Self.firstStop(in: text, parameters.stop) {
                    result.text = String(text[..<cut])
                    result.finishReason = .stop
                    return result
                }
            }
            if result.tokens.count == budget { break }
            logits = try model.forward([next], cache: &cache, logits: .last).logits
        }
        result.text = tokenizer.decode(result.tokens)
        return result
    }

    /// Where the earliest occurrence of any stop string begins.
    static func firstStop(in text: String, _ stops: [String]) -> String.Index? {
        stops.filter { !$0.isEmpty }.compactMap { text.range(of: $0)?.lowerBound }.min()
    }
}
