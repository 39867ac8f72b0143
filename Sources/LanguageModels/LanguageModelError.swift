import Foundation

/// Everything that can go wrong talking to a language model, in this process
/// or over HTTP. Each case says which model or endpoint and what was wrong.
public enum LanguageModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A configuration value is unusable (empty model name, bad URL, …).
    case invalidConfiguration(field: String, reason: String)
    /// The API key's environment variable is named but unset or empty.
    case missingAPIKey(variable: String)
    /// The server answered with a non-success status that retrying did not cure.
    case httpStatus(endpoint: String, status: Int, body: String)
    /// The request did not complete within the timeout, after all retries.
    case timedOut(endpoint: String, seconds: Double, attempts: Int)
    /// The connection failed (refused, reset, closed early), after all retries.
    case connectionFailed(endpoint: String, reason: String, attempts: Int)
    /// The server's answer is not the JSON the OpenAI API specifies.
    case malformedResponse(endpoint: String, reason: String)
    /// The server answered but without log-probabilities, so a pointwise score
    /// cannot be read (many servers need `logprobs` enabled at start-up).
    case noLogProbabilities(endpoint: String, model: String)
    /// Bad caller input (empty candidate list, negative token budget, …).
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, reason):
            return "invalid language-model configuration '\(field)': \(reason)"
        case let .missingAPIKey(variable):
            return "environment variable \(variable) (API key) is unset or empty"
        case let .httpStatus(endpoint, status, body):
            return "\(endpoint) answered HTTP \(status): \(body.prefix(300))"
        case let .timedOut(endpoint, seconds, attempts):
            return "\(endpoint) did not answer within \(seconds)s (\(attempts) attempt(s))"
        case let .connectionFailed(endpoint, reason, attempts):
            return "connection to \(endpoint) failed after \(attempts) attempt(s): \(reason)"
        case let .malformedResponse(endpoint, reason):
            return "\(endpoint) answered something that is not an OpenAI-shaped response: \(reason)"
        case let .noLogProbabilities(endpoint, model):
            return "\(endpoint) returned no logprobs for model '\(model)'; the pointwise score needs them "
                + "(vLLM: --max-logprobs; llama.cpp server: n_probs; OpenAI: logprobs=true)"
        case let .invalidInput(reason):
            return "invalid input: \(reason)"
        }
    }
}
