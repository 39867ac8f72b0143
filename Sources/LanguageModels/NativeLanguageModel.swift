import Foundation
import Models

/// The in-process engine behind the `LanguageModel` and `AttentionModel`
/// interfaces: a GGUF or safetensors decoder with its tokenizer and chat template.
public struct NativeLanguageModel: LanguageModel, AttentionModel, TokenUsageReporting {
    public let generator: TextGenerator
    /// How candidate answers are read from the next-token distribution. The
    /// default is the HTTP backend's: every vocabulary token spelling the
    /// candidate (" true", "True", "true") counts, so a model behind a server
    /// and the same model in process score alike; `.exact` reads only the
    /// candidate's first token.
    public let candidateMatching: CandidateTokenMatching
    /// Normalised token text -> the ids spelling it (`.normalized` matching).
    private let idsByForm: [String: [Int]]
    /// The last scored prompt and its KV cache, when prefixes are reused.
    let lastPrompt: PromptPrefixCache?

    /// `reusesPromptPrefix`: a scoring prompt that starts like the previous
    /// one (a pointwise reranker's instructions and query, before each
    /// passage) runs only the tokens after the shared start. Scores are those
    /// of a full run up to f32 rounding (the tail is a second prefill chunk).
    public init(generator: TextGenerator, candidateMatching: CandidateTokenMatching = .normalized,
                reusesPromptPrefix: Bool = true) {
        self.generator = generator
        self.candidateMatching = candidateMatching
        self.lastPrompt = reusesPromptPrefix ? PromptPrefixCache() : nil
        var forms: [String: [Int]] = [:]
        if candidateMatching == .normalized {
            let tokenizer = generator.tokenizer
            for id in 0..<min(tokenizer.vocabularySize, generator.model.vocabularySize) where !tokenizer.isSpecial(id) {
                guard let token = tokenizer.token(for: id) else { continue }
                let form = CandidateTokenMatching.normalize(token)
                if !form.isEmpty { forms[form, default: []].append(id) }
            }
        }
        idsByForm = forms
    }

    /// Loads a GGUF file (SmolLM2, Llama, Qwen2, Qwen3).
    public init(gguf url: URL, candidateMatching: CandidateTokenMatching = .normalized) throws {
        self.init(generator: try TextGenerator(gguf: url), candidateMatching: candidateMatching)
    }

    public var identifier: String { generator.identifier }
    public var contextLength: Int { generator.model.contextLength }

    /// The chat-rendered conversation followed by the forced start of the answer.
    func promptTokens(_ messages: [ChatMessage], assistantPrefix: String) throws -> [Int] {
        guard !messages.isEmpty else { throw ModelsError.invalidInput("no chat messages") }
        return generator.encodePrompt(generator.chatTemplate.render(messages, addGenerationPrompt: true) + assistantPrefix)
    }

    public func nextTokenLogProbabilities(
        for messages: [ChatMessage], assistantPrefix: String, candidates: [String]
    ) async throws -> [Double?] {
        let logits = try lastLogits(try promptTokens(messages, assistantPrefix: assistantPrefix))
        let logNormaliser = Self.logSumExp(logits)
        return candidates.map { candidate in
            switch candidateMatching {
            case .exact:
                // The candidate's first token: "true" and "false" are single
                // tokens in the vocabularies this engine runs.
                guard let first = generator.encode(candidate).first, first < logits.count else { return nil }
                return Double(logits[first]) - logNormaliser
            case .normalized:
                guard let ids = idsByForm[CandidateTokenMatching.normalize(candidate)] else { return nil }
                return Self.logSumExp(ids.map { logits[$0] }) - logNormaliser
            }
        }
    }

    public func generate(_ request: GenerationRequest) async throws -> String {
        try await generateReportingUsage(request).text
    }

    public func generateReportingUsage(_ request: GenerationRequest) async throws -> (text: String, usage: TokenUsage?) {
        let tokens = try promptTokens(request.messages, assistantPrefix: request.assistantPrefix)
        let parameters = GenerationParameters(
            maxTokens: request.maxTokens,
            sampling: SamplingParameters(temperature: request.temperature, topP: 1, seed: request.seed),
            stop: request.stop, grammar: try request.responseFormat.map(generator.grammar(for:)))
        let result = try generator.generate(tokens: tokens, parameters: parameters)
        return (result.text, TokenUsage(promptTokens: tokens.count, completionTokens: result.tokens.count))
    }

    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        let tokens = generator.encode(text)
        guard tokens.count > maxTokens else { return text }
        return generator.tokenizer.decode(Array(tokens.prefix(max(0, maxTokens))))
    }

    // MARK: AttentionModel

    public func tokenize(_ text: String) throws -> [Int] { generator.encode(text) }

    /// ICR's prompt is an instruction, so it opens a user turn of the chat
    /// template: instruction-tuned models attend as they were trained to.
    public var promptPrefix: [Int] {
        generator.encodePrompt(generator.chatTemplate.startToken + "user\n")
    }

    public func attentionReceived(prefix: [Int], suffixes: [[Int]]) async throws -> [[Float]] {
        let model = generator.model
        let layers = Set(0..<model.configuration.numHiddenLayers)
        let longest = suffixes.map(\.count).max() ?? 0
        var shared = model.makeCache(capacity: prefix.count + longest)
        _ = try model.forward(prefix, cache: &shared, logits: .none)
        return try suffixes.map { suffix in
            guard !suffix.isEmpty else { throw ModelsError.invalidInput("empty attention suffix") }
            var cache = shared
            let output = try model.forward(suffix, cache: &cache, logits: .none, returnAttentions: layers)
            return Self.received(output.attentions, prefixLength: prefix.count, suffixLength: suffix.count)
        }
    }

    /// Sums `attentions[layer]` (heads, n, total) over layers, heads and the n
    /// suffix rows, for the first `prefixLength` columns, and averages over rows.
    static func received(_ attentions: [Int: [Float]], prefixLength: Int, suffixLength n: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: prefixLength)
        let total = prefixLength + n
        for (_, probabilities) in attentions {
            let heads = probabilities.count / (n * total)
            for h in 0..<heads {
                for r in 0..<n {
                    let row = (h * n + r) * total
                    for c in 0..<prefixLength { sum[c] += probabilities[row + c] }
                }
            }
        }
        let scale = 1 / Float(n)
        return sum.map { $0 * scale }
    }

    static func logSumExp(_ values: [Float]) -> Double {
        guard let m = values.max() else { return 0 }
        var s = 0.0
        for v in values { s += exp(Double(v - m)) }
        return Double(m) + log(s)
    }
}

/// The previous prompt's tokens and KV cache, shared by copies of one
/// `NativeLanguageModel` (a lock guards it; the forward passes run outside it).
final class PromptPrefixCache: @unchecked Sendable {
    private let lock = NSLock()
    private var tokens: [Int] = []
    private var cache: KVCache?
    /// Prompts that reused a prefix of at least one token (for tests and reports).
    private(set) var reusedPrompts = 0

    /// How many leading tokens `prompt` shares with the stored prompt, and
    /// the stored cache, when that is at least one token.
    func longestPrefix(of prompt: [Int]) -> (Int, KVCache)? {
        lock.lock()
        defer { lock.unlock() }
        guard let cache else { return nil }
        let shared = zip(tokens, prompt).prefix { $0 == $1 }.count
        guard shared > 0 else { return nil }
        reusedPrompts += 1
        return (shared, cache)
    }

    func store(_ prompt: [Int], _ filled: KVCache) {
        lock.lock()
        defer { lock.unlock() }
        tokens = prompt
        cache = filled
    }
}
