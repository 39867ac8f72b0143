import Foundation
import Grammar
import Tensor

/// Decode speed with and without a grammar on the same prompts, for
/// `limrank bench decoder --json-schema`: greedy, `tokens` tokens per prompt
/// (a grammar that completes starts over, so both kinds decode the same
/// count), kinds alternating round by round so machine load hits both alike.
/// Each constrained run builds a fresh constraint, so the grammar-state
/// walks of the trie are paid inside the timing, as a served request pays them.
public struct ConstrainedDecodeBenchmark {
    public struct Result: Sendable {
        /// Tokens/s of each round, by kind.
        public var unconstrained: [Double] = []
        public var constrained: [Double] = []
        /// The first complete constrained output of each prompt (round 1).
        public var samples: [String] = []
        public var trieSeconds = 0.0
        public var trieNodes = 0
    }

    public var generator: TextGenerator
    public var grammar: Grammar
    public var prompts: [[Int]]
    public var tokens: Int
    public var rounds: Int

    public init(generator: TextGenerator, grammar: Grammar, prompts: [[Int]], tokens: Int, rounds: Int) {
        self.generator = generator
        self.grammar = grammar
        self.prompts = prompts
        self.tokens = tokens
        self.rounds = rounds
    }

    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public func run(log: (String) -> Void) throws -> Result {
        var result = Result()
        let clock = ContinuousClock()
        var t = clock.now
        let first = generator.makeConstraint(for: grammar)
        result.trieSeconds = seconds(clock.now - t)
        result.trieNodes = first.trie.nodeCount
        _ = try generator.model.forward(Array(prompts[0].prefix(16)), logits: .last)
        for round in 0..<rounds {
            for constrained in [false, true] {
                var elapsed = 0.0
                for (p, prompt) in prompts.enumerated() {
                    var cache = generator.model.makeCache(capacity: prompt.count + tokens)
                    var logits = try generator.model.prefill(prompt, cache: &cache)
                    var output: [Int] = []
                    t = clock.now
                    let constraint = constrained ? generator.makeConstraint(for: grammar) : nil
                    for step in 0..<tokens {
                        var next: Int
                        if let constraint {
                            if constraint.isComplete {
                                if round == 0, result.samples.count == p { result.samples.append(generator.tokenizer.decode(output)) }
                                constraint.reset()
                            }
                            try constraint.mask(&logits)
                            next = argmax(logits)
                            if generator.endOfSequenceIDs.contains(next) {
                                // Accepting, and the model chose to end: record and start over.
                                if round == 0, result.samples.count == p { result.samples.append(generator.tokenizer.decode(output)) }
                                constraint.reset()
                                for id in generator.endOfSequenceIDs where id < logits.count { logits[id] = -.infinity }
                                try constraint.mask(&logits)
                                next = argmax(logits)
                            }
                            constraint.accept(next)
                        } else {
                            next = argmax(logits)
                        }
                        output.append(next)
                        if step + 1 < tokens { logits = try generator.model.forward([next], cache: &cache, logits: .last).logits }
                    }
                    elapsed += seconds(clock.now - t)
                }
                let rate = Double(tokens * prompts.count) / elapsed
                if constrained { result.constrained.append(rate) } else { result.unconstrained.append(rate) }
                log("round \(round + 1): \(constrained ? "constrained" : "free") \(String(format: "%.3f", rate)) tok/s")
            }
        }
        return result
    }

    private func argmax(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
