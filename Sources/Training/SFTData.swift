import Foundation
import Models
import Tokenizers

/// One supervised example before tokenization: the prompt the model reads
/// and the target it learns to continue it with (LimRank: the raw pointwise
/// prompt ending in `<think>`, then the reasoning and `</think> true|false`).
/// `file` and `line` say where it came from, for errors and notes.
public struct SFTRecord: Sendable, Equatable {
    public var prompt: String
    public var target: String
    public var file: String
    public var line: Int

    public init(prompt: String, target: String, file: String, line: Int) {
        self.prompt = prompt
        self.target = target
        self.file = file
        self.line = line
    }

    /// LimRank's pointwise SFT example for a labelled pair: the raw prompt
    /// (`PointwisePrompt`, ending in `<think>`) and the target that follows it,
    /// `"\n" + reasoning + "\n</think> true|false"` (an empty reasoning
    /// when the data has no trace: the answer the reranker reads at once).
    public init(pair: CrossEncoderPair, reasoning: String = "") {
        let prompt = PointwisePrompt(format: .limrank)
        self.init(prompt: PointwisePrompt.rawPrompt(query: pair.query, passage: pair.passage),
                  target: prompt.trainingTarget(reasoning: reasoning, relevant: pair.relevant),
                  file: pair.file, line: pair.line)
    }

    /// The label a LimRank target ends with: `</think> true` or `</think> false`.
    public var label: Bool? {
        var t = Substring(target)
        while let last = t.last, last.isWhitespace { t = t.dropLast() }
        if t.hasSuffix(PointwisePrompt.thinkEnd + PointwisePrompt.answers.yes) { return true }
        if t.hasSuffix(PointwisePrompt.thinkEnd + PointwisePrompt.answers.no) { return false }
        return nil
    }
}

/// Reads SFT records from LLaMA-Factory's layouts, as `limrank synthesize
/// --export` writes them: Alpaca (`instruction`, `input`, `output`) and
/// ShareGPT (`conversations` of `from`/`value` turns), each as a JSON array
/// or as JSON Lines; a record's prompt is instruction + input (joined by a
/// newline when both are set, as LLaMA-Factory does), its target the output.
public enum SFTDataReader {
    struct Alpaca: Decodable {
        var instruction: String
        var input: String?
        var output: String
    }

    struct ShareGPT: Decodable {
        struct Turn: Decodable {
            var from: String
            var value: String
        }
        var conversations: [Turn]
    }

    enum Record: Decodable {
        case alpaca(Alpaca)
        case sharegpt(ShareGPT)

        init(from decoder: Decoder) throws {
            struct Keys: Decodable {
                var conversations: [ShareGPT.Turn]?
                var instruction: String?
            }
            let keys = try Keys(from: decoder)
            if keys.conversations != nil {
                self = .sharegpt(try ShareGPT(from: decoder))
            } else if keys.instruction != nil {
                self = .alpaca(try Alpaca(from: decoder))
            } else {
                throw TrainingError.invalidParameter(name: "record", reason: "neither Alpaca (instruction/input/output) nor ShareGPT (conversations)")
            }
        }
    }

    /// Every record of `url` (JSON array: 1-based record numbers stand for lines).
    public static func read(_ url: URL) throws -> [SFTRecord] {
        let file = url.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError.invalidData(file: file, line: 0, reason: "cannot read the file")
        }
        let firstByte = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        var out: [SFTRecord] = []
        if firstByte == UInt8(ascii: "[") {
            guard let array = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
                throw TrainingError.invalidData(file: file, line: 1, reason: "not a valid JSON array")
            }
            for (i, element) in array.enumerated() {
                // JSONSerialization traps (not throws) on a top-level value that is not an object.
                guard element is [String: Any] else {
                    throw TrainingError.invalidData(file: file, line: i + 1, reason: "record \(i + 1) of the array is not a JSON object")
                }
                let line = try JSONSerialization.data(withJSONObject: element)
                out.append(try convert(TrainingDataReader.decode(Record.self, String(decoding: line, as: UTF8.self), file: file, line: i + 1),
                                       file: file, line: i + 1))
            }
        } else {
            try TrainingDataReader(url).forEachLine { number, text in
                out.append(try convert(TrainingDataReader.decode(Record.self, text, file: file, line: number), file: file, line: number))
            }
        }
        return out
    }

    static func convert(_ record: Record, file: String, line: Int) throws -> SFTRecord {
        switch record {
        case .alpaca(let a):
            let input = a.input ?? ""
            let prompt = a.instruction.isEmpty ? input : (input.isEmpty ? a.instruction : a.instruction + "\n" + input)
            return SFTRecord(prompt: prompt, target: a.output, file: file, line: line)
        case .sharegpt(let s):
            guard let answer = s.conversations.last(where: { $0.from == "gpt" || $0.from == "assistant" }),
                  let question = s.conversations.last(where: { $0.from == "human" || $0.from == "user" }) else {
                throw TrainingError.invalidData(file: file, line: line, reason: "conversations need a human and a gpt turn")
            }
            return SFTRecord(prompt: question.value, target: answer.value, file: file, line: line)
        }
    }
}

/// Tokenizes SFT records into training sequences: prompt ids then target ids
/// (each encoded on its own without special tokens, as LLaMA-Factory's
/// `empty` template does, and with no end-of-sequence token after the
/// target: LimRank's reranker reads the answer right after `</think>`). Only
/// the target tokens count in the loss.
///
/// `<think>` and `</think>` are not in SmolLM2's vocabulary; they are
/// tokenized as plain text with the base vocabulary (LimRank resized the
/// embeddings of Qwen2.5 for them; here the vocabulary is left unchanged so
/// the adapter applies to the unmodified base model).
public struct SFTEncoder: Sendable {
    public var tokenizer: Tokenizer
    public var maxSequence: Int
    /// Put before every prompt (Gemma's `<bos>`, as `TextGenerator` puts it
    /// before its prompts at inference); nil: none.
    public var beginningOfSequenceID: Int?

    public init(tokenizer: Tokenizer, maxSequence: Int, beginningOfSequenceID: Int? = nil) {
        self.tokenizer = tokenizer
        self.maxSequence = maxSequence
        self.beginningOfSequenceID = beginningOfSequenceID
    }

    /// What `encode` had to do to fit a record (one line for stderr).
    public struct Note: Sendable, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    func ids(_ text: String) -> [Int] { tokenizer.encode(text, addSpecialTokens: false).ids }

    /// Validates the label and fits the record into `maxSequence` tokens by
    /// shortening the passage (the text after the prompt's last
    /// `PointwisePrompt.passageLabel` up to its closing `rawPromptEnd` or
    /// end), never the target.
    public func encode(_ record: SFTRecord, notes: inout [Note]) throws -> TrainingSequence {
        guard record.label != nil else {
            let tail = String(record.target.suffix(40))
            throw TrainingError.invalidData(file: record.file, line: record.line,
                                            reason: "the target's label is neither true nor false (it must end in \"</think> true\" or \"</think> false\"; it ends in \(tail.debugDescription))")
        }
        let target = ids(record.target)
        let bos = beginningOfSequenceID.map { [$0] } ?? []
        var prompt = bos + ids(record.prompt)
        if prompt.count + target.count > maxSequence {
            let before = prompt.count
            guard let cut = truncatedPrompt(record.prompt, budget: maxSequence - target.count - bos.count) else {
                throw TrainingError.invalidData(
                    file: record.file, line: record.line,
                    reason: "\(prompt.count + target.count) tokens exceed --max-seq \(maxSequence) and removing the whole passage does not fit the \(target.count)-token answer")
            }
            prompt = bos + cut
            notes.append(Note(file: record.file, line: record.line,
                              message: "passage truncated: prompt \(before) -> \(prompt.count) tokens to fit --max-seq \(maxSequence) with the \(target.count)-token answer"))
        }
        guard !target.isEmpty else {
            throw TrainingError.invalidData(file: record.file, line: record.line, reason: "empty target")
        }
        return TrainingSequence(tokens: prompt + target,
                                targets: [Bool](repeating: false, count: prompt.count) + [Bool](repeating: true, count: target.count))
    }

    /// The prompt's ids with its passage cut (at a word boundary) to the longest
    /// prefix that fits `budget` tokens; nil when even no passage does not fit.
    func truncatedPrompt(_ prompt: String, budget: Int) -> [Int]? {
        guard budget > 0, let marker = prompt.range(of: PointwisePrompt.passageLabel, options: .backwards) else { return nil }
        let suffixStart = prompt.range(of: PointwisePrompt.rawPromptEnd, options: .backwards,
                                       range: marker.upperBound..<prompt.endIndex)?.lowerBound ?? prompt.endIndex
        let head = String(prompt[..<marker.upperBound]), passage = Array(prompt[marker.upperBound..<suffixStart])
        let tail = String(prompt[suffixStart...])
        // Word boundaries of the passage, then the longest prefix that fits.
        var cuts = [0]
        for (i, ch) in passage.enumerated() where ch.isWhitespace { cuts.append(i) }
        func build(_ k: Int) -> [Int] { ids(head + String(passage[0..<cuts[k]]) + tail) }
        var lo = 0, hi = cuts.count - 1
        guard build(0).count <= budget else { return nil }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if build(mid).count <= budget { lo = mid } else { hi = mid - 1 }
        }
        return build(lo)
    }
}
