import Randomness
import Datasets
import Foundation
import LanguageModels
import Models

/// The state one item carries through its stages: its own random generator
/// (so its requests' seeds depend only on the run seed and the item index),
/// its usage, and the settings.
public struct ItemContext: Sendable {
    public var rng: SplitMix64
    public var usage = SynthesisUsage()
    public let settings: SynthesisConfiguration
    public let prompts: SynthesisPrompts

    public init(index: Int, settings: SynthesisConfiguration, prompts: SynthesisPrompts) {
        rng = SplitMix64(seed: settings.seed, item: index)
        self.settings = settings
        self.prompts = prompts
    }

    /// Asks `model` until its answer decodes as `T` and passes `check`
    /// (which returns why an answer is unusable, or nil). An unusable answer
    /// is re-asked with the problem stated, up to `max_reasks` times, then
    /// the item fails with `malformedOutput`. A backend error is retried with
    /// exponential backoff up to `backend_retries` times, then the run stops.
    public mutating func ask<T: Decodable>(
        _ type: T.Type, model: any LanguageModel, stage: String, messages: [ChatMessage],
        maxTokens: Int, temperature: Double, format: StructuredOutput? = nil, check: (T) -> String? = { _ in nil }
    ) async throws -> T {
        var conversation = messages
        var lastReason = ""
        for attempt in 0...settings.maxReasks {
            if attempt > 0 { usage.reasks += 1 }
            var request = GenerationRequest(messages: conversation, maxTokens: maxTokens, temperature: temperature, seed: rng.next())
            format?.apply(to: &request)
            let answer = try await generate(request, model: model, stage: stage)
            switch ModelOutputParser.decode(T.self, from: answer) {
            case .success(let value):
                guard let problem = check(value) else { return value }
                lastReason = problem
            case .failure(let failure):
                lastReason = failure.reason
            }
            conversation = messages + [
                ChatMessage(.assistant, answer),
                ChatMessage(.user, "Your answer could not be used: \(lastReason). Reply again with only the JSON object asked for."),
            ]
        }
        throw SynthesisError.malformedOutput(stage: stage, attempts: settings.maxReasks + 1, reason: lastReason)
    }

    mutating func generate(_ request: GenerationRequest, model: any LanguageModel, stage: String) async throws -> String {
        let promptCharacters = request.messages.reduce(0) { $0 + $1.content.count }
        var attempt = 0
        while true {
            try Task.checkCancellation()
            usage.requests += 1
            usage.promptCharacters += promptCharacters
            do {
                let answer: String
                if let reporting = model as? any TokenUsageReporting {
                    let (text, tokens) = try await reporting.generateReportingUsage(request)
                    answer = text
                    if let tokens {
                        usage.countedRequests += 1
                        usage.promptTokens += tokens.promptTokens
                        usage.completionTokens += tokens.completionTokens
                    }
                } else {
                    answer = try await model.generate(request)
                }
                usage.completionCharacters += answer.count
                return answer
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard attempt < settings.backendRetries else {
                    throw SynthesisError.backend(model: model.identifier, stage: stage, attempts: attempt + 1, reason: String(describing: error))
                }
                // Jitter from a generator derived without advancing the
                // item's own, so a transient failure does not change the
                // seeds of the item's later requests.
                var jitter = SplitMix64(seed: rng.state ^ StableHash.mix(UInt64(attempt) &+ 1))
                let delay = settings.backoffBaseSeconds * pow(2, Double(attempt)) * (0.5 + jitter.nextUnit())
                attempt += 1
                usage.backendRetries += 1
                if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            }
        }
    }
}
