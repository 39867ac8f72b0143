import Foundation
import Reranking

/// The prompt of every stage, by id. The built-in ones are below; any of them
/// can be replaced by a file `<id>.txt` in a directory named by the config
/// (`prompts_directory`), in the format `limrank synthesize prompts` writes:
///
///     id: query-generation
///     version: 2
///     === system
///     ...
///     === user
///     ...
///
/// An override must use exactly the placeholders of the built-in template it
/// replaces; its version goes into every record, so bump it when editing.
public struct SynthesisPrompts: Sendable, Hashable {
    public var queryGeneration: PromptTemplate
    public var positivePassages: PromptTemplate
    public var hardNegatives: PromptTemplate
    public var relevanceJudge: PromptTemplate
    public var reasoningTrace: PromptTemplate
    /// Corpus-grounded mode: a query that a given collection document answers.
    public var corpusQuery: PromptTemplate

    public static let ids = ["query-generation", "positive-passages", "hard-negatives", "relevance-judge", "reasoning-trace", "corpus-query"]

    public var all: [PromptTemplate] { [queryGeneration, positivePassages, hardNegatives, relevanceJudge, reasoningTrace, corpusQuery] }

    /// `id -> version`, as records store it.
    public var versions: [String: Int] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.version) })
    }

    public static let builtIn = SynthesisPrompts(
        queryGeneration: Self.make(
            id: "query-generation", version: 1,
            system: """
            You write realistic search queries for training a search engine that must reason. \
            Each query states a genuine information need of a specific person. The best answer to it \
            must require inference (applying a principle, connecting two facts, diagnosing a cause, \
            weighing a trade-off), so that a passage answering it shares few of its words.
            """,
            user: """
            Persona: {persona}
            Domain: {domain}
            Domain kind: {domain_kind}
            Write one query this persona would really type or ask about this domain. Describe the situation \
            in the persona's own words (one to three sentences); do not name the concept, law or term that \
            answers it. {instruction_request}
            Respond with only a JSON object of the form {"query": "...", "instruction": "..."}.
            """,
            required: ["persona", "domain", "domain_kind", "instruction_request"]),
        positivePassages: Self.make(
            id: "positive-passages", version: 1,
            system: """
            You write passages like those found in textbooks, manuals, encyclopedias and expert forums. \
            A passage is self-contained and factual; it never mentions a query or a reader.
            """,
            user: """
            Domain: {domain}
            Query: {query}
            Instruction: {instruction}
            Write {count} different passage(s) of 80 to 200 words that each fully satisfy this need, and \
            follow the instruction if there is one. Explain the underlying principle or cause that answers it, \
            in the vocabulary of the field rather than the words of the query; do not restate or quote the query.
            Respond with only a JSON object of the form {"positives": ["...", "..."]}.
            """,
            required: ["domain", "query", "instruction", "count"]),
        hardNegatives: Self.make(
            id: "hard-negatives", version: 1,
            system: """
            You write hard negative passages for training a search engine: passages a keyword matcher would \
            rank highly, which a careful expert would reject. A passage is self-contained and factual; \
            it never mentions a query or a reader.
            """,
            user: """
            Domain: {domain}
            Query: {query}
            Instruction: {instruction}
            A passage that satisfies it:
            {positive}
            Write {count} different passage(s) of 80 to 200 words on the same topic that reuse the query's \
            vocabulary and look relevant, yet do not satisfy the need: they answer a neighbouring question, \
            describe a related but wrong mechanism, stop short of the needed inference, or violate the instruction. \
            Each must still be accurate in itself.
            Respond with only a JSON object of the form {"negatives": ["...", "..."]}.
            """,
            required: ["domain", "query", "instruction", "positive", "count"]),
        relevanceJudge: Self.make(
            id: "relevance-judge", version: 1,
            system: """
            You are a strict relevance assessor. A passage is relevant only if it satisfies the information need \
            (and the instruction, if any) so that the searcher could act on it; sharing words or topic is not enough.
            """,
            user: """
            Query: {query}
            Instruction: {instruction}
            Passage:
            {passage}
            Is the passage relevant? Think briefly, then respond with only a JSON object of the form \
            {"relevant": true, "reason": "..."} or {"relevant": false, "reason": "..."}.
            """,
            required: ["query", "instruction", "passage"]),
        reasoningTrace: Self.make(
            id: "reasoning-trace", version: 1,
            system: """
            You explain relevance judgements step by step, as a careful assessor thinking aloud.
            """,
            user: """
            Query: {query}
            Instruction: {instruction}
            Judgement: the passage is {label}.
            Passage:
            {passage}
            Write the reasoning (three to six sentences) that leads from what the query needs to this judgement, \
            without announcing the judgement first.
            Respond with only a JSON object of the form {"reasoning": "..."}.
            """,
            required: ["query", "instruction", "label", "passage"]),
        corpusQuery: Self.make(
            id: "corpus-query", version: 1,
            system: """
            You write realistic search queries for training a search engine that must reason. \
            Each query states a genuine information need of a specific person, and the given document \
            must be what answers it. The query describes the person's situation or problem; it does not \
            copy the document's phrases or name its key terms, so that finding the document takes inference.
            """,
            user: """
            Persona: {persona}
            Document:
            {document}
            Write one question (one to three sentences) that this persona would really ask, in their own \
            words, whose answer is in this document. Use different words from the document. {instruction_request}
            Respond with only a JSON object of the form {"query": "...", "instruction": "..."}.
            """,
            required: ["persona", "document", "instruction_request"])
    )

    /// Built-ins never fail validation; a mistake in them is caught by the tests.
    private static func make(id: String, version: Int, system: String, user: String, required: Set<String>) -> PromptTemplate {
        do {
            return try PromptTemplate(id: id, version: version, system: system, user: user, required: required)
        } catch {
            preconditionFailure("built-in prompt \(id) is invalid: \(error)")
        }
    }

    public func template(id: String) -> PromptTemplate? {
        all.first { $0.id == id }
    }

    /// The built-ins with any `<id>.txt` in `directory` in their place.
    /// Files with other names ending in `.txt` are an error, to catch typos.
    public static func load(overridesIn directory: URL?) throws -> SynthesisPrompts {
        var prompts = builtIn
        guard let directory else { return prompts }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw SynthesisError.invalidPrompt(file: directory.path, reason: "cannot list the prompts directory: \(error.localizedDescription)")
        }
        for name in names.sorted() where name.hasSuffix(".txt") {
            let id = String(name.dropLast(4))
            let url = directory.appendingPathComponent(name)
            guard let base = builtIn.template(id: id) else {
                throw SynthesisError.invalidPrompt(file: url.path, reason: "no stage has prompt id \"\(id)\" (known: \(ids.joined(separator: ", ")))")
            }
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw SynthesisError.invalidPrompt(file: url.path, reason: "cannot read: \(error.localizedDescription)")
            }
            let template = try parse(text, file: url.path, required: PromptTemplate.placeholders(in: base.system + base.user))
            guard template.id == id else {
                throw SynthesisError.invalidPrompt(file: url.path, reason: "header says id \"\(template.id)\" but the file is named for \"\(id)\"")
            }
            prompts.replace(template)
        }
        return prompts
    }

    mutating func replace(_ template: PromptTemplate) {
        switch template.id {
        case "query-generation": queryGeneration = template
        case "positive-passages": positivePassages = template
        case "hard-negatives": hardNegatives = template
        case "relevance-judge": relevanceJudge = template
        case "corpus-query": corpusQuery = template
        default: reasoningTrace = template
        }
    }

    /// The file form of a template, which `parse` reads back.
    public static func serialize(_ template: PromptTemplate) -> String {
        "id: \(template.id)\nversion: \(template.version)\n=== system\n\(template.system)\n=== user\n\(template.user)\n"
    }

    public static func parse(_ text: String, file: String, required: Set<String>) throws -> PromptTemplate {
        var header: [String: String] = [:]
        var sections: [String: [Substring]] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("=== ") {
                let name = line.dropFirst(4).trimmingCharacters(in: .whitespaces)
                guard name == "system" || name == "user" else {
                    throw SynthesisError.invalidPrompt(file: file, reason: "unknown section \"=== \(name)\" (use \"=== system\" and \"=== user\")")
                }
                current = name
                sections[name] = []
            } else if let current {
                sections[current, default: []].append(line)
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let colon = line.firstIndex(of: ":") else {
                    throw SynthesisError.invalidPrompt(file: file, reason: "header line \"\(line)\" is not \"key: value\"")
                }
                header[line[..<colon].trimmingCharacters(in: .whitespaces)] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        guard let id = header["id"], !id.isEmpty else { throw SynthesisError.invalidPrompt(file: file, reason: "missing header \"id:\"") }
        guard let versionText = header["version"], let version = Int(versionText), version > 0 else {
            throw SynthesisError.invalidPrompt(file: file, reason: "header \"version:\" must be a positive integer")
        }
        guard let user = sections["user"] else { throw SynthesisError.invalidPrompt(file: file, reason: "missing section \"=== user\"") }
        func joined(_ lines: [Substring]) -> String {
            lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do {
            return try PromptTemplate(id: id, version: version, system: joined(sections["system"] ?? []), user: joined(user), required: required)
        } catch {
            throw SynthesisError.invalidPrompt(file: file, reason: String(describing: error))
        }
    }
}
