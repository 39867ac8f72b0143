import Foundation

/// How a candidate answer ("true", "false", a passage id) is found among the
/// alternatives a model reports for the next token.
///
/// Rule: a reported token matches a candidate when both are equal after
/// dropping leading whitespace and the tokenizers' word-start markers ("Ġ",
/// "▁") and lowercasing. Several surface forms of one candidate (" true",
/// "true", "True") are one answer, so their probabilities are summed (log-sum-
/// exp). A candidate with no matching token gets `nil`: its probability is
/// below the reported alternatives, not zero.
///
/// `.exact` instead takes only the token spelled exactly like the candidate
/// (in process: the candidate's first token). `NativeLanguageModel` applies
/// the same rule over its whole vocabulary, so with either rule a model
/// behind a server and in process give the same scores, as long as the
/// server's top_logprobs include the forms that carry the mass.
public enum CandidateTokenMatching: Sendable, Hashable {
    case normalized
    case exact

    public static func normalize(_ token: String) -> String {
        var scalars = Substring(token)
        while let first = scalars.first, first.isWhitespace || first == "Ġ" || first == "▁" {
            scalars = scalars.dropFirst()
        }
        return scalars.lowercased()
    }

    /// Log-probability of each candidate among `alternatives` (duplicates of
    /// the same token string are counted once).
    public static func logProbabilities(of candidates: [String], in alternatives: [TokenLogProbability],
                                        rule: CandidateTokenMatching = .normalized) -> [Double?] {
        if rule == .exact {
            var byToken: [String: Double] = [:]
            for alternative in alternatives where byToken[alternative.token] == nil {
                byToken[alternative.token] = alternative.logProbability
            }
            return candidates.map { byToken[$0] }
        }
        var seen = Set<String>()
        var byForm: [String: [Double]] = [:]
        for alternative in alternatives where seen.insert(alternative.token).inserted {
            let key = normalize(alternative.token)
            guard !key.isEmpty, alternative.logProbability.isFinite || alternative.logProbability == -.infinity
            else { continue }
            byForm[key, default: []].append(alternative.logProbability)
        }
        return candidates.map { candidate in
            guard let values = byForm[normalize(candidate)], let top = values.max(), top > -.infinity else {
                return nil
            }
            return top + log(values.reduce(0) { $0 + exp($1 - top) })
        }
    }
}
