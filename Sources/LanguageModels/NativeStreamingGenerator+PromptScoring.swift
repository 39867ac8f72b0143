import Foundation
import Models

extension NativeStreamingGenerator: PromptScoringGenerator {
    /// One forward pass over the prompt with every position's logits. Token
    /// texts are the growth of the decoded prefix, so they concatenate to the
    /// decoded prompt (multi-token characters land on their last token).
    public func promptLogProbabilities(_ prompt: String) async throws -> [(text: String, logProbability: Double?)] {
        let tokens = generator.encodePrompt(prompt)
        guard !tokens.isEmpty else { throw ModelsError.invalidInput("empty prompt") }
        let context = generator.model.contextLength
        guard tokens.count < context else { throw ModelsError.sequenceTooLong(length: tokens.count, maximum: context - 1) }
        var cache = generator.model.makeCache(capacity: tokens.count)
        var out: [(text: String, logProbability: Double?)] = []
        var emitted = ""
        var start = 0
        var previous: [Float] = []
        // Chunks bound the (n, vocab) logits held at once.
        while start < tokens.count {
            let end = min(tokens.count, start + LlamaModel.prefillChunk)
            let output = try generator.model.forward(Array(tokens[start..<end]), cache: &cache, logits: .all)
            for i in start..<end {
                var value: Double?
                if i > 0 {
                    let logits = i == start ? previous : output.logits(row: i - start - 1)
                    value = Double(logits[tokens[i]]) - Self.logSumExp(logits)
                }
                let decoded = generator.tokenizer.decode(Array(tokens[...i]))
                var text = ""
                if !decoded.hasSuffix("\u{FFFD}"), decoded.hasPrefix(emitted) {
                    text = String(decoded.dropFirst(emitted.count))
                    emitted = decoded
                }
                out.append((text, value))
            }
            previous = output.logits(row: end - start - 1)
            start = end
        }
        return out
    }
}
