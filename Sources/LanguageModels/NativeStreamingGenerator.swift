import Foundation
import Models

/// The native decoder (`Models.TextGenerator`: SmolLM2, Llama, Qwen) as a
/// `StreamingTextGenerator`: the same prefill/decode loop and sampler as
/// `TextGenerator.generate`, reporting each token with its log-probability
/// and the best alternatives as it is chosen.
public struct NativeStreamingGenerator: StreamingTextGenerator, TokenCounter {
    public let generator: TextGenerator

    public init(_ generator: TextGenerator) { self.generator = generator }

    public var identifier: String { generator.identifier }
    public var contextLength: Int { generator.model.contextLength }

    /// Chat turns through the model's template; a trailing assistant turn is continued.
    func promptTokens(_ prompt: GenerationPrompt) throws -> [Int] {
        switch prompt {
        case .raw(let text):
            return generator.encodePrompt(text)
        case .chat(var messages):
            guard !messages.isEmpty else { throw ModelsError.invalidInput("no chat messages") }
            var prefix = ""
            if messages.last?.role == .assistant, messages.count > 1 { prefix = messages.removeLast().content }
            return generator.encodePrompt(generator.chatTemplate.render(messages, addGenerationPrompt: true) + prefix)
        }
    }

    public func stream(_ request: TextGenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error> {
        let generator = self.generator
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
        let prompt: [Int]
        do {
            prompt = try promptTokens(request.prompt)
        } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let task = Task.detached {
            do {
                guard !prompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
                try generator.checkCapacity(promptTokens: prompt.count, maxTokens: request.maxTokens)
                continuation.yield(.started(promptTokens: prompt.count))
                let budget = request.maxTokens
                var cache = generator.model.makeCache(capacity: prompt.count + budget)
                let sampling = SamplingParameters(temperature: request.temperature, topP: request.topP, seed: request.seed)
                try sampling.validate()
                var sampler = Sampler(sampling)
                // Constrained decoding masks a copy, so the reported
                // log-probabilities stay the model's own.
                let constraint = try request.responseFormat.map { generator.makeConstraint(for: try generator.grammar(for: $0)) }
                var logits = try generator.model.prefill(prompt, cache: &cache)
                var tokens: [Int] = []
                var emitted = ""
                var count = 0
                while count < budget {
                    try Task.checkCancellation()
                    let next: Int
                    if let constraint {
                        if constraint.isComplete { break }
                        var masked = logits
                        try constraint.mask(&masked, remaining: budget - count)
                        next = sampler.sample(masked)
                        constraint.accept(next)
                    } else {
                        next = sampler.sample(logits)
                    }
                    if generator.endOfSequenceIDs.contains(next) {
                        continuation.yield(.finished(.stop, TokenUsage(promptTokens: prompt.count, completionTokens: count)))
                        continuation.finish()
                        return
                    }
                    count += 1
                    tokens.append(next)
                    continuation.yield(.token(Self.tokenEvent(next, logits: logits, tokens: tokens, emitted: &emitted,
                                                              last: count == budget, topLogProbabilities: request.topLogProbabilities,
                                                              generator: generator)))
                    if count == budget || constraint?.isComplete == true { break }
                    logits = try generator.model.forward([next], cache: &cache, logits: .last).logits
                }
                // A grammar that completed ends like an end-of-sequence token.
                let reason: FinishReason = constraint?.isComplete == true ? .stop : .length
                continuation.yield(.finished(reason, TokenUsage(promptTokens: prompt.count, completionTokens: count)))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func countTokens(_ text: String) async throws -> Int { generator.encode(text).count }

    public func truncate(_ text: String, maxTokens: Int) async throws -> String {
        let tokens = generator.encode(text)
        guard tokens.count > maxTokens else { return text }
        return generator.tokenizer.decode(Array(tokens.prefix(max(0, maxTokens))))
    }

    /// The event for `next`, the newest of `tokens`: its log-probability and
    /// the best alternatives under `logits` (the model's own, not a grammar's
    /// mask), and its text, the growth of the decoded whole since `emitted`,
    /// so multi-token characters come out once complete. The budget's last
    /// token (`last`) takes whatever is left, an unfinished character
    /// included (as the whole decode has it). Shared by the one-at-a-time and
    /// the batching generators, whose events must be the same.
    static func tokenEvent(_ next: Int, logits: [Float], tokens: [Int], emitted: inout String, last: Bool,
                           topLogProbabilities: Int, generator: TextGenerator) -> GeneratedToken {
        let logNormaliser = logSumExp(logits)
        var top: [TokenLogProbability] = []
        if topLogProbabilities > 0 {
            let best = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(topLogProbabilities)
            top = best.map { TokenLogProbability(token: generator.tokenizer.decode([$0]),
                                                 logProbability: Double(logits[$0]) - logNormaliser) }
        }
        let decoded = generator.tokenizer.decode(tokens)
        var text = ""
        if !decoded.hasSuffix("\u{FFFD}") || last, decoded.hasPrefix(emitted) {
            text = String(decoded.dropFirst(emitted.count))
            emitted = decoded
        }
        return GeneratedToken(id: next, text: text, logProbability: Double(logits[next]) - logNormaliser, topLogProbabilities: top)
    }

    static func logSumExp(_ values: [Float]) -> Double {
        guard let m = values.max() else { return 0 }
        var s = 0.0
        for v in values { s += exp(Double(v - m)) }
        return Double(m) + log(s)
    }
}

extension NativeEncoder: TokenCounter {
    public func countTokens(_ text: String) async throws -> Int {
        tokenizer.encode(text, maxLength: maxLength).ids.count
    }
}
