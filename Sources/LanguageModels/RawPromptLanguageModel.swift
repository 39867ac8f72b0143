import Foundation

/// A completion of a raw prompt.
public struct RawCompletion: Sendable, Hashable {
    public var text: String
    /// True when one of the request's stop strings ended it (the string is
    /// not in `text`); false when the token budget, the context or the
    /// end-of-sequence token did.
    public var stoppedOnString: Bool

    public init(text: String, stoppedOnString: Bool) {
        self.text = text
        self.stoppedOnString = stoppedOnString
    }
}

/// A model that also takes a prompt verbatim, with no chat template: how
/// models trained with LLaMA-Factory's `template: empty` (LimRank, Rank1) are
/// run. In process the text is tokenized as it is; over HTTP it goes to
/// `/v1/completions` as the `prompt` string.
///
/// Candidates are read by their exact first token (Rank1's rule:
/// `tokenizer(" true").input_ids[0]`), not the normalized matching of the chat
/// path, so " true" and "true" are different answers here.
public protocol RawPromptLanguageModel: LanguageModel {
    /// Greedy continuation of `prompt`, ending before the first of `stop`.
    func complete(rawPrompt: String, maxTokens: Int, stop: [String]) async throws -> RawCompletion

    /// Natural-log probability of each candidate's first token as the next
    /// token after `prompt`; nil where the backend cannot tell (a server
    /// reports only its top alternatives).
    func nextTokenLogProbabilities(rawPrompt: String, candidates: [String]) async throws -> [Double?]

    /// Natural-log probability of `continuation` following `prompt`, summed
    /// over its tokens: exact even when it is far from the top alternatives.
    /// Servers answer it through `echo` (the prompt's own log-probabilities).
    func continuationLogProbability(rawPrompt: String, continuation: String) async throws -> Double
}

/// A generator that can also report the log-probability of each token of a
/// prompt given the tokens before it: what OpenAI's `echo` with `logprobs`
/// returns, and what scores a forced continuation exactly.
public protocol PromptScoringGenerator: StreamingTextGenerator {
    /// One entry per prompt token, in order; the first has no log-probability
    /// (nil), as OpenAI's API reports it.
    func promptLogProbabilities(_ prompt: String) async throws -> [(text: String, logProbability: Double?)]
}
