import Foundation
import Testing
import Models
import Tokenizers
@testable import Training

/// SFT examples: built from the reranker's prompt (`PointwisePrompt`), their
/// labels, and the encoder's passage truncation, on the tiny Llama fixture's
/// byte-level tokenizer (one token per byte, so ids decode to the exact text).
@Suite struct SFTDataTests {
    static var tokenizer: Tokenizer {
        get throws { try Tokenizer(directory: LoRAGradientParityTests.fixture("tiny-llama").appendingPathComponent("base")) }
    }

    static func text(_ ids: some Collection<Int>) throws -> String {
        String(decoding: ids.map { UInt8($0) }, as: UTF8.self)
    }

    /// The golden case: for the same (query, instruction, passage) the
    /// training prompt `limrank train` builds from synthesized data is, byte
    /// for byte, the prompt the pointwise reranker sends (`PointwiseLLMReranker`
    /// joins with `PointwisePrompt.query` and renders `rawPrompt`).
    @Test func trainingPromptBytesEqualTheRerankersPrompt() throws {
        let cases: [(query: String, instruction: String, passage: String)] = [
            ("heat flow", "in a wing", "Heat flows from the hot side."),
            ("  shock waves ", " at Mach 2\n", "A normal shock."),
            ("same text", "same text", "Repeated instructions are not repeated."),
            ("no instruction", "", "Plain."),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("examples.jsonl")
        let lines = try cases.map { c -> String in
            let object: [String: Any] = ["query": c.query, "instruction": c.instruction, "positives": [["text": c.passage]], "negatives": []]
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        let pairs = try CrossEncoderData.read(url)
        #expect(pairs.count == cases.count)
        for (pair, c) in zip(pairs, cases) {
            let training = SFTRecord(pair: pair).prompt
            guard case let .raw(reranker) = PointwisePrompt(format: .limrank).prompt(query: c.query, instruction: c.instruction, passage: c.passage) else {
                Issue.record("the limrank format renders a raw prompt")
                continue
            }
            #expect(Array(training.utf8) == Array(reranker.utf8), "\(c)")
        }
        // Rank1's bytes, written out once: the join strips and does not repeat an instruction equal to the query.
        #expect(SFTRecord(pair: pairs[1]).prompt == PointwisePrompt.task + "\nQuery: shock waves   at Mach 2\nPassage: A normal shock.\n<think>")
        #expect(SFTRecord(pair: pairs[2]).prompt.contains("\nQuery: same text\nPassage: "))
    }

    @Test func targetsAndLabels() {
        let pair = CrossEncoderPair(query: "q", passage: "p", relevant: true, file: "d.jsonl", line: 4)
        let record = SFTRecord(pair: pair, reasoning: " The passage answers it. ")
        #expect(record.target == "\nThe passage answers it.\n</think> true")
        #expect(record.label == true && record.file == "d.jsonl" && record.line == 4)
        #expect(SFTRecord(pair: CrossEncoderPair(query: "q", passage: "p", relevant: false, file: "", line: 0)).target == "\n\n</think> false")
        #expect(SFTRecord(prompt: "x", target: "…</think> false \n", file: "", line: 0).label == false)
        #expect(SFTRecord(prompt: "x", target: "… true", file: "", line: 0).label == nil)
        #expect(SFTRecord(prompt: "x", target: "</think>true", file: "", line: 0).label == nil)
    }

    @Test func encodeMasksThePromptAndKeepsTheAnswer() throws {
        let encoder = SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: 1000)
        let record = SFTRecord(pair: CrossEncoderPair(query: "lift", passage: "pressure over an aerofoil", relevant: true, file: "d", line: 1))
        var notes: [SFTEncoder.Note] = []
        let s = try encoder.encode(record, notes: &notes)
        let promptCount = record.prompt.utf8.count, targetCount = record.target.utf8.count
        #expect(notes.isEmpty)
        #expect(s.tokens.count == promptCount + targetCount)
        #expect(try Self.text(s.tokens) == record.prompt + record.target)
        #expect(s.targets == [Bool](repeating: false, count: promptCount) + [Bool](repeating: true, count: targetCount))
    }

    /// Gemma's BOS goes first, outside the loss, and counts against --max-seq.
    @Test func beginningOfSequenceLeadsThePrompt() throws {
        let record = SFTRecord(pair: CrossEncoderPair(query: "lift", passage: "pressure over an aerofoil", relevant: true, file: "d", line: 1))
        var notes: [SFTEncoder.Note] = []
        let plain = try SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: 1000).encode(record, notes: &notes)
        let withBOS = try SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: 1000, beginningOfSequenceID: 2).encode(record, notes: &notes)
        #expect(withBOS.tokens == [2] + plain.tokens && withBOS.targets == [false] + plain.targets)
        let tight = SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: plain.tokens.count, beginningOfSequenceID: 2)
        let cut = try tight.encode(record, notes: &notes)
        #expect(cut.tokens.first == 2 && cut.tokens.count <= plain.tokens.count && cut.targetCount == plain.targetCount)
        #expect(notes.count == 1)
    }

    /// A long passage is cut at a word boundary; the prompt still ends in
    /// `\n<think>` and the answer is whole.
    @Test func truncationCutsThePassageOnly() throws {
        let passage = (0..<60).map { "word\($0)" }.joined(separator: " ")
        let record = SFTRecord(pair: CrossEncoderPair(query: "lift", passage: passage, relevant: false, file: "d.jsonl", line: 9))
        let budget = record.prompt.utf8.count + record.target.utf8.count - 200
        let encoder = SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: budget)
        var notes: [SFTEncoder.Note] = []
        let s = try encoder.encode(record, notes: &notes)
        #expect(s.tokens.count <= budget && s.tokens.count > budget - 10)
        let promptEnd = s.targets.firstIndex(of: true) ?? s.tokens.count
        let prompt = try Self.text(s.tokens[..<promptEnd])
        #expect(try Self.text(s.tokens[promptEnd...]) == record.target)
        #expect(prompt.hasSuffix("\n<think>"), "\(prompt.suffix(30).debugDescription)")
        let head = PointwisePrompt.userText(query: "lift", passage: "")
        #expect(prompt.hasPrefix(head))
        let kept = String(prompt.dropFirst(head.count).dropLast("\n<think>".count))
        #expect(!kept.isEmpty && passage.hasPrefix(kept) && kept.count < passage.count)
        #expect(passage.dropFirst(kept.count).first == " ", "cut at a word boundary: \(kept.suffix(10))")
        #expect(notes.map(\.line) == [9] && notes[0].message.contains("passage truncated"))
        // An answer that cannot fit even with no passage is an error naming the record.
        let tiny = SFTEncoder(tokenizer: try Self.tokenizer, maxSequence: 20)
        #expect(throws: TrainingError.self) { try tiny.encode(record, notes: &notes) }
        let unlabeled = SFTRecord(prompt: record.prompt, target: "\nmaybe", file: "d.jsonl", line: 11)
        do {
            _ = try encoder.encode(unlabeled, notes: &notes)
            Issue.record("an unlabelled target must be refused")
        } catch let TrainingError.invalidData(file, line, reason) {
            #expect(file == "d.jsonl" && line == 11 && reason.contains("neither true nor false"))
        }
    }
}

/// Malformed LLaMA-Factory files are errors naming the record, never a crash.
@Suite struct SFTDataReaderErrorTests {
    func read(_ json: String) throws -> [SFTRecord] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-sft-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try SFTDataReader.read(url)
    }

    /// A number among the records aborted `train --method lora` (JSONSerialization
    /// traps on a top-level value that is not an object).
    @Test func aRecordThatIsNotAnObjectIsNamed() throws {
        do {
            _ = try read(#"[{"instruction": "q", "input": "", "output": "</think> true"}, 7]"#)
            Issue.record("expected an error")
        } catch let TrainingError.invalidData(_, line, reason) {
            #expect(line == 2 && reason == "record 2 of the array is not a JSON object")
        }
        #expect(throws: TrainingError.self) { try read(#"[["instruction"]]"#) }
        #expect(try read(#"[{"instruction": "q", "input": "", "output": "</think> true"}]"#).map(\.target) == ["</think> true"])
    }
}
