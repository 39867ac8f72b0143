import Foundation
import Models

/// Raw prompts in process: the text is encoded as it is (no chat template),
/// so special tokens spelled in it (`<think>`, `</think>` where the
/// vocabulary has them) become their ids, as HF tokenizers do.
extension NativeLanguageModel: RawPromptLanguageModel {
    public func complete(rawPrompt: String, maxTokens: Int, stop: [String]) async throws -> RawCompletion {
        guard !rawPrompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
        let result = try generator.generate(
            tokens: generator.encodePrompt(rawPrompt),
            parameters: GenerationParameters(maxTokens: maxTokens, sampling: .greedy, stop: stop))
        return RawCompletion(text: result.text, stoppedOnString: result.finishReason == .stop)
    }

    public func nextTokenLogProbabilities(rawPrompt: String, candidates: [String]) async throws -> [Double?] {
        guard !rawPrompt.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
        let logits = try lastLogits(generator.encodePrompt(rawPrompt))
        let logNormaliser = Self.logSumExp(logits)
        return candidates.map { candidate in
            guard let first = generator.encode(candidate).first, first < logits.count else { return nil }
            return Double(logits[first]) - logNormaliser
        }
    }

    public func continuationLogProbability(rawPrompt: String, continuation: String) async throws -> Double {
        let head = generator.encodePrompt(rawPrompt)
        let all = generator.encodePrompt(rawPrompt + continuation)
        guard !head.isEmpty, all.count > head.count, Array(all.prefix(head.count)) == head else {
            throw ModelsError.invalidInput("'\(continuation)' does not tokenize apart from the prompt it follows")
        }
        let model = generator.model
        var cache = model.makeCache(capacity: all.count)
        var logits = try model.prefill(head, cache: &cache)
        let tail = Array(all[head.count...])
        var total = Double(logits[tail[0]]) - Self.logSumExp(logits)
        if tail.count > 1 {
            let output = try model.forward(Array(tail.dropLast()), cache: &cache, logits: .all)
            for r in 0..<(tail.count - 1) {
                logits = output.logits(row: r)
                total += Double(logits[tail[r + 1]]) - Self.logSumExp(logits)
            }
        }
        return total
    }

    /// Next-token logits after `tokens`, reusing the KV cache of the start
    /// they share with the previous scored prompt (the pointwise prompt's
    /// instruction and query).
    func lastLogits(_ tokens: [Int]) throws -> [Float] {
        let model = generator.model
        var cache: KVCache
        var start = 0
        // At least the last token runs, for its logits. A sliding-window
        // layer may have dropped what the shared start needs: then all run.
        if let lastPrompt, let (shared, cached) = lastPrompt.longestPrefix(of: tokens),
           let kept = cached.prefix(min(shared, tokens.count - 1), capacity: tokens.count) {
            start = kept.count
            cache = kept
        } else {
            cache = model.makeCache(capacity: tokens.count)
        }
        let logits = try model.prefill(Array(tokens[start...]), cache: &cache)
        lastPrompt?.store(tokens, cache)
        return logits
    }
}
