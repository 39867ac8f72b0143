import Datasets
import Foundation
import LanguageModels
import Models
import Testing
import TestSupport
import Tokenizers
@testable import Reranking

/// Rank1/LimRank's pointwise format against goldens made from their own code
/// path (`Scripts/fixtures/limrank_prompts.py`, which reproduces LimRank's
/// `rank1.py` and `prompts.py`): prompt strings, token ids under two
/// tokenizers, cut-back, training text, and transformers' scores of a tiny
/// random Qwen2 with and without a reasoning budget.
@Suite struct LimRankFormatTests {
    /// f32 forward passes here vs transformers' f32 (probabilities in [0, 1]).
    static let scoreTolerance = 1e-4

    struct Golden: Decodable {
        struct Reasoning: Decodable { var generated: String; var stopped: Bool; var score: Double; var forced_prompt: String? }
        struct Case: Decodable {
            var query: String, instruction: String, title: String, text: String, template: String
            var joined_query: String, raw_prompt: String, chat_user: String
            var raw_ids: [Int], smollm2_raw_ids: [Int]
            var smollm2_chat_text: String?, smollm2_chat_ids: [Int]?
            var forced_empty: String, score_no_reasoning: Double, true_in_top20: Bool, false_in_top20: Bool
            var trace: String, relevant: Bool, training_prompt: String, training_target: String, training_text: String
            var rank1_reasoning: Reasoning
        }
        struct Cut: Decodable { var text: String; var cut: String }
        var reasoning_tokens: Int
        var true_id: Int, false_id: Int
        var bright_templates: [String: String]
        var cut_back: [Cut]
        var cases: [Case]
    }

    static let fixture = Assets.repoRoot.appendingPathComponent("Tests/RerankingTests/Fixtures/limrank")
    static let smollm2Tokenizer = Assets.repoRoot.appendingPathComponent("Tests/TokenizersTests/Fixtures/smollm2/tokenizer.json")

    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixture.appendingPathComponent("golden.json")))
    }

    /// Rank1's `BrightRetrieval[_subset]` key -> the template LimRank applies.
    static func template(_ key: String) -> String? {
        guard !key.isEmpty else { return nil }
        let subset = key.hasPrefix("BrightRetrieval_") ? String(key.dropFirst("BrightRetrieval_".count)) : "biology"
        return BRIGHTDataset.rank1QueryTemplate(subset: subset)
    }

    static func makeQuery(_ c: Golden.Case) -> Query { Query(id: "q", text: c.query, instruction: c.instruction) }
    static func makeDocument(_ c: Golden.Case) -> Document { Document(id: "d", title: c.title, text: c.text) }

    @Test func promptsMatchRank1WordForWord() throws {
        let golden = try Self.golden()
        for c in golden.cases {
            let prompt = PointwisePrompt(format: .limrank, queryTemplate: Self.template(c.template))
            #expect(prompt.query(c.query, instruction: c.instruction) == (Self.template(c.template).map {
                $0.replacingOccurrences(of: "FILL_QUERY_HERE", with: c.joined_query) } ?? c.joined_query))
            let passage = PointwisePrompt.passage(title: c.title, text: c.text)
            #expect(prompt.prompt(query: c.query, instruction: c.instruction, passage: passage) == .raw(c.raw_prompt))
            let chat = PointwisePrompt(format: .chatml, queryTemplate: Self.template(c.template))
            #expect(chat.prompt(query: c.query, instruction: c.instruction, passage: passage)
                    == .chat([ChatMessage(.system, PointwisePrompt.chatSystem), ChatMessage(.user, c.chat_user)]))
            #expect(PointwisePrompt.forcedAnswerPrefix(reasoning: "") == String(c.forced_empty.dropFirst(c.raw_prompt.count)))
        }
    }

    @Test func tokenIdsMatchHFTokenizers() throws {
        let golden = try Self.golden()
        let tiny = try Tokenizer(directory: Self.fixture)
        let smol = try Tokenizer(tokenizerJSON: Self.smollm2Tokenizer)
        #expect(tiny.tokenize(" true") == [golden.true_id] && tiny.tokenize(" false") == [golden.false_id])
        var chats = 0
        for c in golden.cases {
            #expect(tiny.tokenize(c.raw_prompt) == c.raw_ids, "tiny tokenizer: \(c.query)")
            #expect(smol.tokenize(c.raw_prompt) == c.smollm2_raw_ids, "SmolLM2 tokenizer: \(c.query)")
            if let text = c.smollm2_chat_text, let ids = c.smollm2_chat_ids {
                // The chat format through SmolLM2's own template (the GGUF's Jinja, rendered by transformers).
                let rendered = ChatTemplate.smolLM2.render(
                    [ChatMessage(.system, PointwisePrompt.chatSystem), ChatMessage(.user, c.chat_user)], addGenerationPrompt: true)
                #expect(rendered == text)
                #expect(smol.tokenize(rendered) == ids)
                chats += 1
            }
        }
        #expect(chats == golden.cases.count, "the fixture script found no SmolLM2 GGUF for the chat goldens")
    }

    @Test func cutBackAndTrainingTextMatchRank1AndLimRank() throws {
        let golden = try Self.golden()
        for cut in golden.cut_back {
            #expect(PointwisePrompt.cutToLastSentence(cut.text) == cut.cut, "\(cut.text.debugDescription)")
        }
        for c in golden.cases {
            let prompt = PointwisePrompt(format: .limrank)
            #expect(prompt.trainingTarget(reasoning: c.trace, relevant: c.relevant) == c.training_target)
            #expect(c.training_prompt + prompt.trainingTarget(reasoning: c.trace, relevant: c.relevant) == c.training_text)
        }
        #expect(golden.bright_templates["BrightRetrieval"] == BRIGHTDataset.defaultRank1QueryTemplate)
        for (key, value) in golden.bright_templates where key != "BrightRetrieval" {
            #expect(BRIGHTDataset.rank1QueryTemplates[String(key.dropFirst("BrightRetrieval_".count))] == value, "\(key)")
        }
    }

    static func tinyModel(reusesPromptPrefix: Bool = true) throws -> NativeLanguageModel {
        NativeLanguageModel(generator: try TextGenerator(directory: fixture), reusesPromptPrefix: reusesPromptPrefix)
    }

    @Test func inProcessScoresMatchTransformers() async throws {
        let golden = try Self.golden()
        let model = try Self.tinyModel()
        var stopped = 0, forced = 0
        for c in golden.cases {
            let direct = PointwiseLLMReranker(model: model, format: .limrank, queryTemplate: Self.template(c.template),
                                              maxPassageTokens: nil, reasoningTokens: 0)
            let s0 = try await direct.judge(query: Self.makeQuery(c), document: Self.makeDocument(c))
            #expect(s0.read)
            #expect(abs(s0.score - c.score_no_reasoning) < Self.scoreTolerance, "\(c.query): \(s0.score) vs \(c.score_no_reasoning)")

            let reasoning = PointwiseLLMReranker(model: model, format: .limrank, queryTemplate: Self.template(c.template),
                                                 maxPassageTokens: nil, reasoningTokens: golden.reasoning_tokens)
            let s1 = try await reasoning.judge(query: Self.makeQuery(c), document: Self.makeDocument(c))
            #expect(abs(s1.score - c.rank1_reasoning.score) < Self.scoreTolerance,
                    "\(c.query): \(s1.score) vs \(c.rank1_reasoning.score) (Rank1 \(c.rank1_reasoning.stopped ? "stopped" : "forced"))")
            let completion = try await model.complete(rawPrompt: c.raw_prompt, maxTokens: golden.reasoning_tokens,
                                                      stop: PointwisePrompt.stopStrings)
            #expect(completion.text == c.rank1_reasoning.generated)
            #expect(completion.stoppedOnString == c.rank1_reasoning.stopped)
            if c.rank1_reasoning.stopped { stopped += 1 } else { forced += 1 }
        }
        // Both of Rank1's paths are exercised... at least the forced one.
        #expect(forced > 0)
    }

    @Test func chatFormatStillAnswersAtOnce() async throws {
        // The default reranker keeps the chat layout (instruction models).
        let reranker = PointwiseLLMReranker(model: OracleModel())
        #expect(reranker.format == .chatml && reranker.reasoningTokens == 0)
        #expect(reranker.versionTag == "limrank-pointwise@v2")
        let limrank = PointwiseLLMReranker(model: OracleModel(), format: .limrank, queryTemplate: "x FILL_QUERY_HERE")
        #expect(limrank.versionTag.hasPrefix("rank1-raw@v1|qt:"))
        // A model that cannot take a raw prompt is refused, not silently chatted to.
        await #expect(throws: RerankingError.self) {
            _ = try await limrank.rerank(query: query, candidates: gradedCandidates([1, 0]))
        }
    }

    @Test func modelsDeclareTheirFormat() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("declared-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        // Nothing said: nil, whatever the directory is called.
        let plain = dir.appendingPathComponent("limrank-lookalike")
        try fm.createDirectory(at: plain, withIntermediateDirectories: true)
        try Data(#"{"model_type": "qwen2"}"#.utf8).write(to: plain.appendingPathComponent("config.json"))
        #expect(try PointwisePromptFormat.declared(byModelAt: plain) == nil)
        // Its own name in config.json / adapter_config.json.
        try Data(#"{"model_type": "qwen2", "_name_or_path": "songtingyu/LimRank"}"#.utf8).write(to: plain.appendingPathComponent("config.json"))
        #expect(try PointwisePromptFormat.declared(byModelAt: plain) == .limrank)
        let adapter = dir.appendingPathComponent("adapter")
        try fm.createDirectory(at: adapter, withIntermediateDirectories: true)
        try Data(#"{"base_model_name_or_path": "jhu-clsp/rank1-7b"}"#.utf8).write(to: adapter.appendingPathComponent("adapter_config.json"))
        #expect(try PointwisePromptFormat.declared(byModelAt: adapter) == .limrank)
        // The sidecar wins, either way, and a wrong value is an error naming the file.
        try Data(#"{"pointwise_prompt_format": "chatml"}"#.utf8).write(to: adapter.appendingPathComponent("limrank.json"))
        #expect(try PointwisePromptFormat.declared(byModelAt: adapter) == .chatml)
        try Data(#"{"pointwise_prompt_format": "alpaca"}"#.utf8).write(to: adapter.appendingPathComponent("limrank.json"))
        #expect(throws: ModelsError.self) { try PointwisePromptFormat.declared(byModelAt: adapter) }
        let gguf = dir.appendingPathComponent("m.gguf")
        try Data(#"{"pointwise_prompt_format": "limrank"}"#.utf8).write(to: dir.appendingPathComponent("m.limrank.json"))
        #expect(try PointwisePromptFormat.declared(byModelAt: gguf) == .limrank)
        #expect(PointwisePromptFormat.namesRank1Family("LimRank-7B") && PointwisePromptFormat.namesRank1Family("rank1-32b-awq"))
        #expect(!PointwisePromptFormat.namesRank1Family("frank1") && !PointwisePromptFormat.namesRank1Family("SmolLM2-135M-Instruct"))
    }
}
