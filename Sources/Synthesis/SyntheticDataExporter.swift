import Datasets
import Foundation
import Models
import Reranking

/// Turns `examples.jsonl` into training data for the pointwise reranker
/// (ShareGPT or Alpaca layout, as LLaMA-Factory reads them) or into a BEIR
/// collection that `limrank eval --dataset beir` can score.
public enum SyntheticDataExporter {
    public enum Format: String, Sendable, CaseIterable {
        case sharegpt, alpaca, beir
    }

    /// One supervised (query, passage) -> "true"/"false" example, rendered
    /// with the reranker's own prompt (`PointwisePrompt`) so training and
    /// inference agree. In the `.limrank` format `system` is empty and `user`
    /// is the raw prompt ending in `<think>`; `answer` is the target that
    /// follows it (`"\n" + trace + "\n</think> true|false"`).
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

    /// Positives answer " true", negatives " false", after the passage's
    /// trace (`withReasoning`; examples without traces are an error) or an
    /// empty one (the reranker's forced close with no reasoning budget).
    public static func pointwise(_ examples: [SyntheticExample], format: PointwisePromptFormat = .limrank,
                                 withReasoning: Bool = false) throws -> [PointwiseExample] {
        let prompt = PointwisePrompt(format: format)
        var out: [PointwiseExample] = []
        for example in examples {
            let labelled = example.positives.map { ($0, true) } + example.negatives.map { ($0, false) }
            for (passage, relevant) in labelled {
                var reasoning = ""
                if withReasoning {
                    guard let trace = passage.reasoning, !trace.isEmpty else {
                        throw SynthesisError.invalidParameter(
                            name: "--with-reasoning", reason: "passage \(passage.id) has no reasoning trace (synthesize with \"reasoning_traces\": true)")
                    }
                    reasoning = trace
                }
                let system: String, user: String
                switch prompt.prompt(query: example.query, instruction: example.instruction, passage: passage.text) {
                case .raw(let text):
                    (system, user) = ("", text)
                case .chat(let messages):
                    system = messages.first { $0.role == .system }?.content ?? ""
                    user = messages.last { $0.role == .user }?.content ?? ""
                }
                out.append(PointwiseExample(system: system, user: user, answer: prompt.trainingTarget(reasoning: reasoning, relevant: relevant),
                                            exampleID: example.id, passageID: passage.id))
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
        try writeBEIRFiles(corpus: corpus, queries: queries, qrels: qrels, to: directory)
    }

    /// Held-out pseudo-queries as a BEIR collection to tune on: the whole
    /// collection's documents as the corpus, and each query's source document
    /// (its positive's `documentID`) as its only relevant one.
    ///
    /// A held-out document is written as the passage its query was made from
    /// (the positive's text), not as the collection has it: a `title` query is
    /// the document's own title and an `ict` query one of its sentences, so
    /// against the whole document BM25 finds every source by copying (MRR
    /// near 1) and tuning on it would favour the lexical scorer for a reason
    /// the real queries do not share. A document whose held-out queries came
    /// from different passages (ict, several sentences) keeps the first
    /// query's passage and only that query. Returns the queries written.
    @discardableResult
    public static func writeHeldOut(_ examples: [SyntheticExample], documents: [Document], to directory: URL) throws -> [SyntheticExample] {
        let encoder = SynthesisStore.encoder()
        var passages: [String: String] = [:]
        var kept: [(example: SyntheticExample, source: String)] = []
        for example in examples {
            guard let positive = example.positives.first, let source = positive.documentID else {
                throw SynthesisError.invalidParameter(name: "examples", reason: "example \(example.id) has no source document (corpus mode only)")
            }
            if let passage = passages[source], passage != positive.text { continue }
            passages[source] = positive.text
            kept.append((example, source))
        }
        var corpus = Data()
        var queries = Data()
        var qrels = "query-id\tcorpus-id\tscore\n"
        for document in documents {
            let line = passages[document.id].map { CorpusLine(_id: document.id, title: "", text: $0) }
                ?? CorpusLine(_id: document.id, title: document.title, text: document.text)
            corpus.append(try encoder.encode(line))
            corpus.append(0x0A)
        }
        for (example, source) in kept {
            queries.append(try encoder.encode(QueryLine(_id: example.id, text: example.queryWithInstruction, query: example.query, instruction: example.instruction)))
            queries.append(0x0A)
            qrels += "\(example.id)\t\(source)\t1\n"
        }
        try writeBEIRFiles(corpus: corpus, queries: queries, qrels: qrels, to: directory)
        return kept.map(\.example)
    }

    static func writeBEIRFiles(corpus: Data, queries: Data, qrels: String, to directory: URL) throws {
        let store = try SynthesisStore(directory: directory)
        let qrelsDirectory = directory.appendingPathComponent("qrels")
        do {
            try FileManager.default.createDirectory(at: qrelsDirectory, withIntermediateDirectories: true)
        } catch {
            throw SynthesisError.writeFailed(path: qrelsDirectory.path, reason: error.localizedDescription)
        }
        try store.writeAtomically(corpus, to: directory.appendingPathComponent("corpus.jsonl"))
        try store.writeAtomically(queries, to: directory.appendingPathComponent("queries.jsonl"))
        try store.writeAtomically(Data(qrels.utf8), to: qrelsDirectory.appendingPathComponent("test.tsv"))
    }

    /// Writes `examples` in `format` to `output` (a file for the chat layouts,
    /// a directory for BEIR) and returns how many records it wrote. The chat
    /// layouts also get a `dataset_info.json` beside them (see `datasetInfo`).
    @discardableResult
    public static func export(_ examples: [SyntheticExample], format: Format, to output: URL, withReasoning: Bool = false,
                              promptFormat: PointwisePromptFormat = .limrank) throws -> Int {
        switch format {
        case .beir:
            try writeBEIR(examples, to: output)
            return examples.count
        case .sharegpt, .alpaca:
            let pairs = try pointwise(examples, format: promptFormat, withReasoning: withReasoning)
            let data = format == .sharegpt ? try shareGPT(pairs) : try alpaca(pairs)
            let directory = output.deletingLastPathComponent()
            let store = try SynthesisStore(directory: directory)
            try store.writeAtomically(data, to: output)
            let infoURL = directory.appendingPathComponent("dataset_info.json")
            let info = try datasetInfo(merging: infoURL, name: datasetName(output), file: output.lastPathComponent,
                                       format: format, promptFormat: promptFormat)
            try store.writeAtomically(info, to: infoURL)
            return pairs.count
        }
    }

    /// The dataset's name in dataset_info.json: the file name without its extension.
    public static func datasetName(_ output: URL) -> String {
        output.deletingPathExtension().lastPathComponent
    }

    /// LLaMA-Factory's `dataset_info.json` entry for an export, merged into
    /// the file at `url` when one is there (other datasets are kept). Alpaca
    /// maps instruction/input/output (and system for chatml); ShareGPT maps
    /// conversations and system with its default human/gpt tags. Train with
    /// `template: empty` for the limrank format (as LimRank's `limrank.yaml`),
    /// and with the model's ChatML template (`qwen` for Qwen) for chatml.
    public static func datasetInfo(merging url: URL, name: String, file: String, format: Format,
                                   promptFormat: PointwisePromptFormat) throws -> Data {
        var all: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: url.path) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw SynthesisError.readFailed(path: url.path, reason: "not a JSON object; move it away or fix it")
            }
            all = object
        }
        var entry: [String: Any] = ["file_name": file]
        switch format {
        case .alpaca:
            var columns = ["prompt": "instruction", "query": "input", "response": "output"]
            if promptFormat == .chatml { columns["system"] = "system" }
            entry["columns"] = columns
        case .sharegpt:
            entry["formatting"] = "sharegpt"
            var columns = ["messages": "conversations"]
            if promptFormat == .chatml { columns["system"] = "system" }
            entry["columns"] = columns
        case .beir:
            break
        }
        all[name] = entry
        return try JSONSerialization.data(withJSONObject: all, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
