import Foundation
import ModelFormats

/// How a pointwise (query, passage) relevance prompt is laid out.
public enum PointwisePromptFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// Rank1/LimRank's raw prompt: no chat template, no system message, the
    /// text ends in `<think>` and the model continues it (LLaMA-Factory
    /// `template: empty`, as `songtingyu/LimRank` and `jhu-clsp/rank1-*` were trained).
    case limrank
    /// The same user text as one user turn after a system message, rendered by
    /// the model's chat template: for instruction models never trained on the
    /// raw format (SmolLM2-Instruct, chat servers).
    case chatml
}

/// Rank1/LimRank's pointwise prompt, training target and answer boundary, as
/// their released code builds them (LimRank `rerank-exps/rank1.py`
/// `return_prompt`, `predict`, `_fix_incomplete_responses`; `prompts.py`;
/// `train_configs/limrank.yaml`). One definition serves inference (the
/// reranker), the synthesizer's exports and `limrank train`, so a model is
/// trained and run on the same bytes. Golden strings and token ids:
/// `Scripts/fixtures/limrank_prompts.py`.
public struct PointwisePrompt: Sendable, Hashable {
    public var format: PointwisePromptFormat
    /// A per-dataset query template with `FILL_QUERY_HERE` (Rank1's
    /// `prompts.py`, e.g. BRIGHT's per-subset templates), applied after the
    /// instruction is joined to the query.
    public var queryTemplate: String?

    public init(format: PointwisePromptFormat, queryTemplate: String? = nil) {
        self.format = format
        self.queryTemplate = queryTemplate
    }

    /// What the model reads: a raw string (`.limrank`) or chat turns
    /// (`.chatml`, whose answer the caller may force to start with `<think>`).
    public enum Rendered: Sendable, Hashable {
        case raw(String)
        case chat([ChatMessage])
    }

    // MARK: Rank1/LimRank's strings

    public static let task = "Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'."
    /// Only the `.chatml` format has one (the project's, not Rank1's).
    public static let chatSystem = "You judge whether a passage satisfies a search query. Reason about what the query needs, not about shared words."
    public static let thinkStart = "<think>"
    public static let thinkEnd = "</think>"
    /// The answer tokens, read right after `</think>` (Rank1's `true_token` /
    /// `false_token`: the first token of " true" and " false", leading space included).
    public static let answers = (yes: " true", no: " false")
    /// Rank1's vLLM stop strings: reasoning is complete when the model writes
    /// `</think>` followed by an answer.
    public static let stopStrings = [thinkEnd + answers.yes, thinkEnd + answers.no]
    /// What starts the prompt's passage line, and what ends the raw prompt
    /// after the passage (SFT truncation cuts the passage between the two).
    public static let passageLabel = "Passage: "
    public static let rawPromptEnd = "\n" + thinkStart
    /// Rank1's placeholder in per-dataset query templates.
    public static let queryPlaceholder = "FILL_QUERY_HERE"

    /// Rank1's join of a query and its instruction (FollowIR): one space,
    /// the whole stripped; an instruction equal to the query is not repeated.
    /// Without an instruction the query is used as it is.
    public static func joinedQuery(_ query: String, instruction: String) -> String {
        guard !instruction.isEmpty else { return query }
        if strip(query) == strip(instruction) { return strip(query) }
        return strip(query + " " + instruction)
    }

    /// Rank1's passage text: title, a space, body (body alone without a title).
    public static func passage(title: String, text: String) -> String {
        title.isEmpty ? text : title + " " + text
    }

    /// The three lines both formats share (Rank1's prompt without `<think>`).
    public static func userText(query: String, passage: String) -> String {
        task + "\n" + "Query: " + query + "\n" + passageLabel + passage
    }

    /// Rank1/LimRank's raw prompt, ending in the opening think tag.
    public static func rawPrompt(query: String, passage: String) -> String {
        userText(query: query, passage: passage) + rawPromptEnd
    }

    /// The query after the instruction join and the query template.
    public func query(_ text: String, instruction: String = "") -> String {
        let joined = Self.joinedQuery(text, instruction: instruction)
        guard let queryTemplate else { return joined }
        return queryTemplate.replacingOccurrences(of: Self.queryPlaceholder, with: joined)
    }

    /// The prompt for one (query, passage) pair in this format.
    public func prompt(query text: String, instruction: String = "", passage: String) -> Rendered {
        let q = query(text, instruction: instruction)
        switch format {
        case .limrank:
            return .raw(Self.rawPrompt(query: q, passage: passage))
        case .chatml:
            return .chat([ChatMessage(.system, Self.chatSystem), ChatMessage(.user, Self.userText(query: q, passage: passage))])
        }
    }

    /// The SFT target that follows the prompt: the reasoning framed by
    /// newlines, `</think>`, a space and the label. The framing is Rank1's
    /// forced-answer text (`prompt + "\n" + reasoning + "\n</think>"`), so a
    /// trained model sees the same bytes whether it closes its reasoning
    /// itself or the reranker closes it when the budget runs out. `.chatml`
    /// starts the assistant turn with `<think>`, which its prompt lacks.
    public func trainingTarget(reasoning: String, relevant: Bool) -> String {
        let body = Self.forcedAnswerPrefix(reasoning: reasoning, cutToSentence: false)
            + (relevant ? Self.answers.yes : Self.answers.no)
        return format == .chatml ? Self.thinkStart + body : body
    }

    /// The text after `<think>` that closes a reasoning trace and leaves the
    /// next token to be the answer: `"\n" + reasoning + "\n</think>"`, the
    /// reasoning stripped and (by default, as Rank1 does when the budget ran
    /// out) cut back to its last full sentence.
    public static func forcedAnswerPrefix(reasoning: String, cutToSentence: Bool = true) -> String {
        "\n" + (cutToSentence ? cutToLastSentence(reasoning) : strip(reasoning)) + "\n" + thinkEnd
    }

    /// Rank1's cut-back: right-strip; unless the text ends in `.`, `!` or `?`,
    /// cut after the last of them (if any); strip.
    public static func cutToLastSentence(_ text: String) -> String {
        var t = Substring(text)
        while let last = t.last, isPythonSpace(last) { t = t.dropLast() }
        if let last = t.last, !".!?".contains(last), let cut = t.lastIndex(where: { ".!?".contains($0) }) {
            t = t[...cut]
        }
        return strip(String(t))
    }

    /// Python's `str.strip()` (Rank1 strips with it).
    public static func strip(_ text: String) -> String {
        var t = Substring(text)
        while let first = t.first, isPythonSpace(first) { t = t.dropFirst() }
        while let last = t.last, isPythonSpace(last) { t = t.dropLast() }
        return String(t)
    }

    private static func isPythonSpace(_ c: Character) -> Bool {
        c.unicodeScalars.allSatisfy { $0.properties.isWhitespace || ("\u{1C}"..."\u{1F}").contains($0) }
    }
}

extension PointwisePromptFormat {
    /// The format a checkpoint says it was trained with, or nil when it says
    /// nothing. Read, in order: `limrank.json` (`{"pointwise_prompt_format":
    /// "limrank"}`) in a model directory or `<name>.limrank.json` beside a
    /// GGUF file (what `limrank train` writes next to its outputs); then the
    /// names the checkpoint declares for itself (GGUF `general.name`,
    /// `general.basename`, `general.finetune`; config.json `_name_or_path`;
    /// a PEFT adapter_config.json `base_model_name_or_path`): a LimRank or
    /// Rank1 checkpoint names itself so (`songtingyu/LimRank`,
    /// `jhu-clsp/rank1-7b`). The file's own path is not read.
    public static func declared(byModelAt url: URL) throws -> PointwisePromptFormat? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        _ = fm.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let sidecar = isDirectory.boolValue
            ? url.appendingPathComponent("limrank.json")
            : url.deletingPathExtension().appendingPathExtension("limrank.json")
        if let data = fm.contents(atPath: sidecar.path) {
            struct Sidecar: Decodable { var pointwise_prompt_format: String? }
            let parsed: Sidecar
            do {
                parsed = try JSONDecoder().decode(Sidecar.self, from: data)
            } catch {
                throw ModelsError.invalidInput("\(sidecar.path): not a JSON object with 'pointwise_prompt_format': \(error)")
            }
            if let value = parsed.pointwise_prompt_format {
                guard let format = PointwisePromptFormat(rawValue: value) else {
                    throw ModelsError.invalidInput("\(sidecar.path): pointwise_prompt_format '\(value)' is not one of "
                        + allCases.map(\.rawValue).joined(separator: ", "))
                }
                return format
            }
        }
        var names: [String] = []
        if isDirectory.boolValue {
            struct Named: Decodable { var _name_or_path: String?; var base_model_name_or_path: String? }
            for file in ["config.json", "adapter_config.json"] {
                guard let data = fm.contents(atPath: url.appendingPathComponent(file).path),
                      let named = try? JSONDecoder().decode(Named.self, from: data) else { continue }
                names += [named._name_or_path, named.base_model_name_or_path].compactMap { $0 }
            }
        } else if url.pathExtension.lowercased() == "gguf" {
            let file = try GGUFFile(contentsOf: url)
            for key in ["general.name", "general.basename", "general.finetune"] where file.metadata.contains(key) {
                if let name = try? file.metadata.string(key) { names.append(name) }
            }
        }
        return names.contains(where: namesRank1Family) ? .limrank : nil
    }

    /// "LimRank", "songtingyu/LimRank-7B", "rank1-7b", "jhu-clsp/rank1-32b-awq".
    public static func namesRank1Family(_ name: String) -> Bool {
        let words = name.lowercased().split(whereSeparator: { "/-_ .".contains($0) })
        return words.contains { $0 == "limrank" || $0 == "rank1" }
    }
}
