import Foundation

/// P(first) among two candidates from their log-probabilities, softmax-normalised
/// over the pair. A missing side counts as far below the other; both missing is
/// an error, since any number would be invented.
public func pairProbability(_ first: Double?, _ second: Double?, model: String) throws -> Double {
    switch (first, second) {
    case let (a?, b?):
        let m = max(a, b)
        let ea = exp(a - m), eb = exp(b - m)
        return ea / (ea + eb)
    case (.some, nil): return 1
    case (nil, .some): return 0
    case (nil, nil):
        throw RerankingError.modelOutput(model: model, reason: "neither answer token is among the returned log-probabilities")
    }
}
