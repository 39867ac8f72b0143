import Foundation
import LanguageModels

/// A deterministic bag-of-words encoder for tests that need real vectors
/// without the shipped model: each word adds 1 to a hashed dimension, so a
/// document sharing more words with the query has the higher cosine.
struct WordHashEmbedder: TextEmbedder, TokenCounter {
    var identifier = "word-hash"
    var dimension = 64
    var maxTokens = 512

    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var vector = [Float](repeating: 0, count: dimension)
            for word in Self.words(text) {
                // FNV-1a: stable across runs, unlike Hasher.
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                vector[Int(hash % UInt64(dimension))] += 1
            }
            return vector
        }
    }

    func countTokens(_ text: String) async throws -> Int { Self.words(text).count }
}

/// A deterministic toy generator over a small vocabulary: its next-token
/// distribution is a softmax of logits derived from the prompt text and the
/// step, so different prompts give different (but reproducible) answers and
/// log-probabilities. It lets the HTTP plumbing be tested end to end without
/// the shipped model; the real-model tests use SmolLM2.
struct ToyGenerator: StreamingTextGenerator {
    var identifier = "toy"
    var contextLength = 4096
    static let vocabulary = ["true", " true", "True", "false", " false", "False", " the", " a", " query", " passage",
                             " is", " relevant", ".", "\n", "<|end|>", " yes", " no", " é", "</think>", " ok"]
    static let endToken = 14

    static func render(_ prompt: GenerationPrompt) -> String {
        switch prompt {
        case .raw(let text): return text
        case .chat(let messages): return messages.map { "\($0.role.rawValue): \($0.content)\n" }.joined()
        }
    }

    /// Log-softmax of the step's logits. Relevance-like behaviour: the more
    /// words the "Query:" and "Passage:" lines share, the likelier "true".
    static func logProbabilities(context: String, step: Int) -> [Double] {
        var logits = [Double](repeating: 0, count: vocabulary.count)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(step)
        for byte in context.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        for i in logits.indices {
            hash = hash &* 6364136223846793005 &+ 1442695040888963407
            logits[i] = Double(hash >> 40) / Double(1 << 24) * 2 - 1
        }
        let lines = context.split(separator: "\n")
        let query = Set(lines.first(where: { $0.hasPrefix("Query:") }).map { WordHashEmbedder.words(String($0)) } ?? [])
        let passage = Set(lines.first(where: { $0.hasPrefix("Passage:") }).map { WordHashEmbedder.words(String($0)) } ?? [])
        let overlap = Double(query.intersection(passage).count)
        logits[0] += overlap
        logits[3] -= overlap
        let top = logits.max() ?? 0
        let norm = top + log(logits.reduce(0) { $0 + exp($1 - top) })
        return logits.map { $0 - norm }
    }

    func stream(_ request: TextGenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            var context = Self.render(request.prompt)
            continuation.yield(.started(promptTokens: WordHashEmbedder.words(context).count))
            var state = request.seed &+ 0x9e37_79b9_7f4a_7c15
            for step in 0..<request.maxTokens {
                let logProbabilities = Self.logProbabilities(context: context, step: step)
                var choice: Int
                if request.temperature == 0 {
                    choice = logProbabilities.indices.max(by: { logProbabilities[$0] < logProbabilities[$1] }) ?? 0
                } else {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    var u = Double(state >> 11) / Double(1 << 53)
                    choice = logProbabilities.count - 1
                    for (i, lp) in logProbabilities.enumerated() {
                        u -= exp(lp / request.temperature) / logProbabilities.reduce(0) { $0 + exp($1 / request.temperature) }
                        if u <= 0 { choice = i; break }
                    }
                }
                if choice == Self.endToken {
                    continuation.yield(.finished(.stop, TokenUsage(promptTokens: WordHashEmbedder.words(Self.render(request.prompt)).count, completionTokens: step)))
                    continuation.finish()
                    return
                }
                let top = logProbabilities.indices.sorted { logProbabilities[$0] > logProbabilities[$1] }
                    .prefix(request.topLogProbabilities)
                    .map { TokenLogProbability(token: Self.vocabulary[$0], logProbability: logProbabilities[$0]) }
                continuation.yield(.token(GeneratedToken(id: choice, text: Self.vocabulary[choice],
                                                          logProbability: logProbabilities[choice], topLogProbabilities: Array(top))))
                context += Self.vocabulary[choice]
            }
            continuation.yield(.finished(.length, TokenUsage(promptTokens: WordHashEmbedder.words(Self.render(request.prompt)).count,
                                                              completionTokens: request.maxTokens)))
            continuation.finish()
        }
    }

    func countTokens(_ text: String) async throws -> Int { WordHashEmbedder.words(text).count }

    func truncate(_ text: String, maxTokens: Int) async throws -> String {
        let words = WordHashEmbedder.words(text)
        return words.count <= maxTokens ? text : words.prefix(maxTokens).joined(separator: " ")
    }
}
