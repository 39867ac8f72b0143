import Foundation
import Testing
import Datasets
import Reranking
@testable import Synthesis

@Suite struct ExporterTests {
    static func example(_ index: Int, instruction: String = "", traces: Bool = false) -> SyntheticExample {
        let id = SynthesisPipeline.exampleID(index)
        return SyntheticExample(
            id: id, index: index,
            seed: Seed(persona: "a baker", domain: "cooking and baking", domainKind: .everyday, wantsInstruction: !instruction.isEmpty),
            query: "why does bread \(index) collapse", instruction: instruction,
            positives: [JudgedPassage(id: "\(id)-p0", text: "Overproofing exhausts sugars {\(index)}.", votes: [true, true], reasoning: traces ? "It names the cause." : nil)],
            negatives: [
                JudgedPassage(id: "\(id)-n0", text: "Bread has a long history.", votes: [false, false], reasoning: traces ? "History is not a cause." : nil),
                JudgedPassage(id: "\(id)-n1", text: "Ovens come in many sizes.", votes: [false, false], reasoning: traces ? "Size is beside the point." : nil),
            ],
            droppedNegatives: [], generatorModel: "g", judgeModel: "j", promptVersions: ["query-generation": 1],
            createdAt: "2026-01-01T00:00:00Z", usage: SynthesisUsage())
    }

    struct ShareGPT: Decodable {
        struct Turn: Decodable { var from: String; var value: String }
        var conversations: [Turn]
        var system: String
    }

    struct Alpaca: Decodable {
        var instruction: String
        var input: String
        var output: String
        var system: String
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("synth-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func shareGPTUsesTheRerankerPrompt() throws {
        let examples = [Self.example(0), Self.example(1, instruction: "Only causes count.")]
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("train.json")
        let written = try SyntheticDataExporter.export(examples, format: .sharegpt, to: out, promptFormat: .chatml)
        #expect(written == 6)
        let records = try JSONDecoder().decode([ShareGPT].self, from: Data(contentsOf: out))
        #expect(records.count == 6)
        let template = PointwiseLLMReranker.defaultTemplate
        var k = 0
        for example in examples {
            for (passage, answer) in example.positives.map({ ($0, "true") }) + example.negatives.map({ ($0, "false") }) {
                let record = records[k]
                // Rank1's join: a space between query and instruction.
                let query = example.instruction.isEmpty ? example.query : example.query + " " + example.instruction
                #expect(record.system == template.system)
                #expect(record.conversations.count == 2)
                #expect(record.conversations[0].from == "human")
                #expect(record.conversations[0].value == """
                Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'.
                Query: \(query)
                Passage: \(passage.text)
                """)
                #expect(record.conversations[1].from == "gpt")
                #expect(record.conversations[1].value == "<think>\n\n</think> " + answer)
                k += 1
            }
        }
    }

    /// The default export is LimRank's: the raw prompt ending in <think> as
    /// the instruction, no system, the target `"\n" + trace + "\n</think> true|false"`,
    /// and a dataset_info.json that maps exactly those columns.
    @Test func alpacaLayoutIsLimRanks() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("limrank_train.json")
        try SyntheticDataExporter.export([Self.example(3, traces: true)], format: .alpaca, to: out, withReasoning: true)
        let records = try JSONDecoder().decode([Alpaca].self, from: Data(contentsOf: out))
        #expect(records.map(\.output) == ["\nIt names the cause.\n</think> true", "\nHistory is not a cause.\n</think> false",
                                         "\nSize is beside the point.\n</think> false"])
        #expect(records.allSatisfy { $0.input == "" && $0.system == "" })
        #expect(records[0].instruction == """
            Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'.
            Query: why does bread 3 collapse
            Passage: Overproofing exhausts sugars {3}.
            <think>
            """)
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("dataset_info.json"))) as? [String: Any]
        let entry = try #require(info?["limrank_train"] as? [String: Any])
        #expect(entry["file_name"] as? String == "limrank_train.json")
        #expect(entry["columns"] as? [String: String] == ["prompt": "instruction", "query": "input", "response": "output"])
        // A second export into the same folder keeps the first entry.
        try SyntheticDataExporter.export([Self.example(4)], format: .sharegpt, to: dir.appendingPathComponent("chat.json"), promptFormat: .chatml)
        let both = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("dataset_info.json"))) as? [String: Any]
        #expect(Set(both?.keys.map { $0 } ?? []) == ["limrank_train", "chat"])
        #expect((both?["chat"] as? [String: Any])?["formatting"] as? String == "sharegpt")
    }

    @Test func reasoningGoesBeforeTheClosingTag() throws {
        let pairs = try SyntheticDataExporter.pointwise([Self.example(0, traces: true)], withReasoning: true)
        #expect(pairs.map(\.answer) == [
            "\nIt names the cause.\n</think> true",
            "\nHistory is not a cause.\n</think> false",
            "\nSize is beside the point.\n</think> false",
        ])
        #expect(pairs.allSatisfy { $0.user.hasSuffix("\n<think>") && $0.system.isEmpty })
        let chat = try SyntheticDataExporter.pointwise([Self.example(0, traces: true)], format: .chatml, withReasoning: true)
        #expect(chat[0].answer == "<think>\nIt names the cause.\n</think> true")
        #expect(throws: SynthesisError.self) { try SyntheticDataExporter.pointwise([Self.example(0)], withReasoning: true) }
    }

    @Test func beirLayoutLoadsBack() throws {
        let examples = [Self.example(0), Self.example(1, instruction: "Only causes count.")]
        let dir = try temporaryDirectory()
        try SyntheticDataExporter.export(examples, format: .beir, to: dir)
        let collection = try BEIRDataset.load(directory: dir)
        #expect(collection.queries.count == 2)
        #expect(collection.documents.count == 6)
        let queries = Dictionary(uniqueKeysWithValues: collection.queries.map { ($0.id, $0) })
        #expect(queries["syn000000"]?.text == "why does bread 0 collapse")
        #expect(queries["syn000001"]?.text == "why does bread 1 collapse\nOnly causes count.")
        #expect(collection.qrels["syn000001"] == ["syn000001-p0": 1, "syn000001-n0": 0, "syn000001-n1": 0])
        let documents = Dictionary(uniqueKeysWithValues: collection.documents.map { ($0.id, $0) })
        #expect(documents["syn000000-p0"]?.text == "Overproofing exhausts sugars {0}.")
        let qrelsText = try String(contentsOf: dir.appendingPathComponent("qrels/test.tsv"), encoding: .utf8)
        #expect(qrelsText.hasPrefix("query-id\tcorpus-id\tscore\nsyn000000\tsyn000000-p0\t1\n"))
    }
}
