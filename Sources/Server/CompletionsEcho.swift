import Foundation
import LanguageModels

extension CompletionsController {
    /// The prompt as `echo` returns it: its text and one logprobs entry per
    /// prompt token (the first with a null log-probability and no
    /// alternatives), offsets counted in Characters from the prompt's start.
    static func echo(_ prompt: String, _ scorer: any PromptScoringGenerator) async throws
        -> (text: String, logprobs: CompletionLogProbs, offset: Int) {
        var logprobs = CompletionLogProbs()
        var offset = 0
        var text = ""
        for entry in try await scorer.promptLogProbabilities(prompt) {
            logprobs.tokens.append(entry.text)
            logprobs.token_logprobs.append(entry.logProbability)
            logprobs.top_logprobs.append([:])
            logprobs.text_offset.append(offset)
            offset += entry.text.count
            text += entry.text
        }
        return (text, logprobs, offset)
    }
}

extension CompletionLogProbs {
    func appending(_ other: CompletionLogProbs) -> CompletionLogProbs {
        var all = self
        all.tokens += other.tokens
        all.token_logprobs += other.token_logprobs
        all.top_logprobs += other.top_logprobs
        all.text_offset += other.text_offset
        return all
    }
}
