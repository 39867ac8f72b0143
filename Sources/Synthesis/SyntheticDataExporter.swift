import Foundation
import Reranking

/// Turns `examples.jsonl` into training data for the pointwise reranker
/// (ShareGPT or Alpaca layout, as LLaMA-Factory reads them) or into a BEIR
/// collection that `limrank eval --dataset beir` can score.
public enum SyntheticDataExporter {
    public enum Format: String, Sendable, CaseIterable {
        case sharegpt, alpaca, beir
    }

    /// One supervised (query, passage) -> "true"/"false" example, rendered
    /// with the reranker's own prompt so training and inference agree.
    public struct PointwiseExample: Sendable, Hashable {
        public var system: String
        public var user: String
        public var answer: String
        public var exampleID: String
        public var passageID: String
    }

    public static func readExamples(_ url: URL) throws -> [SyntheticExample] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SynthesisError.readFailed(path: url.path, reason: "file not found (run `limrank synthesize` first)")
        }
        return try SynthesisStore.readJSONLines(SyntheticExample.self, from: url)
    }

    /// Positives answer "true", negatives "false". With `withReasoning`, the
    /// answer is preceded by the passage's trace in the `<think>` block the
    /// reranker's reasoning mode reads; examples without traces are an error.
    public static func pointwise(_ examples: [SyntheticExample], template: PromptTemplate = PointwiseLLMReranker.defaultTemplate,
                                 withReasoning: Bool = false) throws -> [PointwiseExample] {
        var out: [PointwiseExample] = []
        for example in examples {
            let labelled = example.positives.map { ($0, true) } + example.negatives.map { ($0, false) }
            for (passage, relevant) in labelled {
                let messages = template.render(["query": example.queryWithInstruction, "passage": passage.text])
                let system = messages.first { $0.role == .system }?.content ?? ""
                let user = messages.last { $0.role == .user }?.content ?? ""
                var answer = relevant ? "true" : "false"
                if withReasoning {
                    guard let trace = passage.reasoning, !trace.isEmpty else {
                        throw SynthesisError.invalidParameter(
                            name: "--with-reasoning", reason: "passage \(passage.id) has no reasoning trace (synthesize with \"reasoning_traces\": true)")
                    }
                    // The reranker forces "<think>\n" + trace + "\n</think>\n" before the answer.
                    answer = "<think>\n" + trace + "\n</think>\n" + answer
                }
                out.append(PointwiseExample(system: system, user: user, answer: answer, exampleID: example.id, passageID: passage.id))
            }
        }
        return out
    }

    struct ShareGPTRecord: Codable, Hashable {
        struct Turn: Codable, Hashable {
            var from: String
            var value: String
        }
        var conversations: [Turn]
        var system: String
    }

    struct AlpacaRecord: Codable, Hashable {
        var instruction: String
        var input: String
        var output: String
        var system: String
    }

    /// A JSON array of `{"conversations": [{"from": "human"|"gpt", "value"}], "system"}`.
    public static func shareGPT(_ examples: [PointwiseExample]) throws -> Data {
        let records = examples.map {
            ShareGPTRecord(conversations: [.init(from: "human", value: $0.user), .init(from: "gpt", value: $0.answer)], system: $0.system)
        }
        return try arrayEncoder().encode(records)
    }

    /// A JSON array of `{"instruction", "input", "output", "system"}`.
    public static func alpaca(_ examples: [PointwiseExample]) throws -> Data {
        try arrayEncoder().encode(examples.map { AlpacaRecord(instruction: $0.user, input: "", output: $0.answer, system: $0.system) })
    }

    static func arrayEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return encoder
    }

    struct CorpusLine: Encodable {
        var _id: String
        var title: String
        var text: String
    }

    struct QueryLine: Encodable {
        var _id: String
        var text: String
        var query: String
        var instruction: String
    }

    /// Writes `corpus.jsonl`, `queries.jsonl` and `qrels/test.tsv` into
    /// `directory`. Positives are graded 1 and negatives 0 (judged
    /// non-relevant). A query's `text` carries its instruction after a
    /// newline, as the pointwise reranker reads it; `query` and
    /// `instruction` keep them apart.
    public static func writeBEIR(_ examples: [SyntheticExample], to directory: URL) throws {
        let store = try SynthesisStore(directory: directory)
        let qrelsDirectory = directory.appendingPathComponent("qrels")
        do {
            try FileManager.default.createDirectory(at: qrelsDirectory, withIntermediateDirectories: true)
        } catch {
            throw SynthesisError.writeFailed(path: qrelsDirectory.path, reason: error.localizedDescription)
        }
        let encoder = SynthesisStore.encoder()
        var corpus = Data()
        var queries = Data()
        var qrels = "query-id\tcorpus-id\tscore\n"
        var seen = Set<String>()
        for example in examples {
            guard seen.insert(example.id).inserted else {
                throw SynthesisError.invalidParameter(name: "examples", reason: "example id \(example.id) appears twice")
            }
            queries.append(try encoder.encode(QueryLine(_id: example.id, text: example.queryWithInstruction, query: example.query, instruction: example.instruction)))
            queries.append(0x0A)
            for (passage, grade) in example.positives.map({ ($0, 1) }) + example.negatives.map({ ($0, 0) }) {
                corpus.append(try encoder.encode(CorpusLine(_id: passage.id, title: "", text: passage.text)))
                corpus.append(0x0A)
                qrels += "\(example.id)\t\(passage.id)\t\(grade)\n"
            }
        }
        try store.writeAtomically(corpus, to: directory.appendingPathComponent("corpus.jsonl"))
        try store.writeAtomically(queries, to: directory.appendingPathComponent("queries.jsonl"))
        try store.writeAtomically(Data(qrels.utf8), to: qrelsDirectory.appendingPathComponent("test.tsv"))
    }

    /// Writes `examples` in `format` to `output` (a file for the chat layouts,
    /// a directory for BEIR) and returns how many records it wrote.
    @discardableResult
    public static func export(_ examples: [SyntheticExample], format: Format, to output: URL, withReasoning: Bool = false) throws -> Int {
        switch format {
        case .beir:
            try writeBEIR(examples, to: output)
            return examples.count
        case .sharegpt, .alpaca:
            let pairs = try pointwise(examples, withReasoning: withReasoning)
            let data = format == .sharegpt ? try shareGPT(pairs) : try alpaca(pairs)
            let store = try SynthesisStore(directory: output.deletingLastPathComponent())
            try store.writeAtomically(data, to: output)
            return pairs.count
        }
    }
}
