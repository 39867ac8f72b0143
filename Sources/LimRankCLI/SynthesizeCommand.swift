import ArgumentParser
import Foundation
import LanguageModels
import Models
import RemoteModels
import Synthesis

/// `limrank synthesize`: make reranking training examples with an LLM, then
/// export them for fine-tuning or evaluation.
struct Synthesize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Generate few, diverse, hard reranking examples (LIMRANK-SYNTHESIZER).",
        subcommands: [SynthesizeRun.self, SynthesizeExport.self, SynthesizePrompts.self],
        defaultSubcommand: SynthesizeRun.self
    )
}

struct SynthesizeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Generate into --out (examples.jsonl, rejected.jsonl, stats.json); rerun to resume.")

    @Option(help: "JSON config file (see docs/synthesis.md); command-line options override it.")
    var config: String?

    @Option(help: "Output directory; a previous run there with the same settings is resumed.")
    var out: String

    @Option(help: "Number of examples wanted.")
    var target: Int?

    @Option(help: "Backend: native or openai.")
    var backend: String?

    @Option(help: "Model: a registry name for native (smollm2), the served model name for openai.")
    var model: String?

    @Option(name: .customLong("base-url"), help: "OpenAI-compatible server, e.g. http://localhost:8000/v1.")
    var baseURL: String?

    @Option(name: .customLong("api-key-env"), help: "Environment variable holding the API key.")
    var apiKeyEnv: String?

    @Option(help: "Run seed.")
    var seed: UInt64?

    @Option(help: "Items processed at once; with --backend openai also the most requests in flight to the server (generation, judge and trace stages together).")
    var concurrency: Int?

    @Option(help: "Embeddings for dedup and selection (and, with --corpus, document picking and dense mining): hashing (no model), minilm, or a model directory.")
    var embedder: String?

    @Flag(help: "Ground queries in a collection's documents (--dataset and its paths): each document picked is the positive, hard negatives are mined from BM25 and dense top-k. Only documents are read.")
    var corpus = false

    @OptionGroup var corpusData: CorpusDatasetOptions

    @Option(name: .customLong("false-negative-filter"), help: "With --corpus: dense (score rule), llm (judge votes) or both.")
    var falseNegativeFilter: String?

    @Option(help: "Pool = target x oversample before dedup and selection.")
    var oversample: Double?

    @Option(name: .customLong("query-source"), help: "With --corpus: llm (the generator writes each query), title (a document's title for its body) or ict (a sentence for the rest of its document); title and ict need no model.")
    var querySource: String?

    @Option(name: .customLong("queries-per-document"), help: "With --corpus: queries made per document at most (title: 1; default 1 for title and ict, unbounded for llm).")
    var queriesPerDocument: Int?

    @Option(name: .customLong("round-trip"), help: ArgumentHelp("With --corpus: keep a query only when its document is in the top --round-trip-k of this scorer: bm25, dense (the --embedder), or a sentence-transformers model directory.", valueName: "scorer"))
    var roundTrip: String?

    @Option(name: .customLong("round-trip-k"), help: "The round-trip filter's k (default 1, as Promptagator).")
    var roundTripK: Int?

    @Option(name: .customLong("validation-fraction"), help: "With --corpus: hold out the queries of this share of the source documents as a BEIR collection in OUT/validation (for limrank tune).")
    var validationFraction: Double?

    func validate() throws {
        try corpusData.validate(corpus: corpus)
        if !corpus, querySource != nil || queriesPerDocument != nil || roundTrip != nil || roundTripK != nil || validationFraction != nil {
            throw ValidationError("--query-source, --queries-per-document, --round-trip, --round-trip-k and --validation-fraction are for --corpus")
        }
    }

    // The scripted backend is a deterministic test double used by the tests.
    @Option(name: .customLong("scripted-garbage-rate"), help: .hidden)
    var scriptedGarbageRate: Double = 0.1
    @Option(name: .customLong("scripted-judge-noise"), help: .hidden)
    var scriptedJudgeNoise: Double = 0.05
    @Option(name: .customLong("scripted-delay-ms"), help: .hidden)
    var scriptedDelayMilliseconds: Int = 0

    /// Whether the config file names an embedder itself (then it is kept).
    static func configSetsEmbedder(_ path: String?) -> Bool {
        guard let path, let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["embedder"] != nil
    }

    func run() async throws {
        var settings = SynthesisConfiguration()
        if let config { settings = try SynthesisConfiguration.load(URL(fileURLWithPath: config)) }
        if let target { settings.target = target }
        if let seed { settings.seed = seed }
        if let concurrency { settings.concurrency = concurrency }
        if let embedder { settings.embedder = embedder }
        if let falseNegativeFilter { settings.falseNegativeFilter = falseNegativeFilter }
        if let oversample { settings.oversample = oversample }
        if let querySource { settings.querySource = querySource }
        if let queriesPerDocument { settings.queriesPerDocument = queriesPerDocument }
        if let roundTrip { settings.roundTripScorer = roundTrip }
        if let roundTripK { settings.roundTripK = roundTripK }
        if let validationFraction { settings.validationFraction = validationFraction }
        if backend != nil || model != nil || baseURL != nil || apiKeyEnv != nil {
            var chosen = settings.backend ?? .init(kind: backend ?? "")
            if let backend { chosen.kind = backend }
            if let model { chosen.model = model }
            if let baseURL { chosen.baseURL = baseURL }
            if let apiKeyEnv { chosen.apiKeyEnv = apiKeyEnv }
            settings.backend = chosen
        }
        if embedder == nil, !Self.configSetsEmbedder(config), settings.backend?.kind != "scripted" {
            settings.embedder = SynthesisBackendFactory.defaultEmbedder()
            Log.write("embedder: \(settings.embedder)" + (settings.embedder == "hashing" ? " (minilm is not installed: `limrank models fetch`)" : " (the shipped MiniLM; --embedder hashing for the model-free one)"))
        }
        try settings.validate(file: config ?? "command line")
        if !corpus, settings.source != .llm || settings.roundTripScorer != nil || settings.validationFraction > 0 {
            throw ValidationError("query_source \(settings.querySource), round_trip_scorer and validation_fraction need --corpus")
        }
        let modelFree = corpus && settings.source != .llm && settings.backend == nil
        if modelFree {
            // Title and ICT queries need no generator; only the LLM stages would.
            guard settings.falseNegativeFilter == "dense", !settings.reasoningTraces else {
                throw ValidationError("--query-source \(settings.querySource) without a backend mines with the dense false-negative rule only: drop false_negative_filter \(settings.falseNegativeFilter) / reasoning_traces, or give --backend")
            }
            settings.backend = .init(kind: "scripted")
        }
        guard let backendSettings = settings.backend, !backendSettings.kind.isEmpty else {
            throw ValidationError("choose a backend: --backend native --model smollm2, or --backend openai --base-url URL --model NAME (or \"backend\" in the config)")
        }
        let scripted = ScriptedLanguageModel(garbageRate: scriptedGarbageRate, judgeNoise: scriptedJudgeNoise, delayMilliseconds: scriptedDelayMilliseconds)
        let model = try SynthesisBackendFactory.makeModel(backendSettings, scripted: scripted, concurrency: settings.concurrency)
        // The same backend judging reuses the loaded model.
        let judge = try settings.judgeBackend.flatMap { $0 == backendSettings ? nil : try SynthesisBackendFactory.makeModel($0, scripted: scripted, concurrency: settings.concurrency) }
        let prompts = try SynthesisPrompts.load(overridesIn: settings.promptsDirectory.map { URL(fileURLWithPath: $0) })
        let progress: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let textEmbedder = try SynthesisBackendFactory.makeEmbedder(settings.embedder)
        var grounding: SynthesisCorpus?
        var roundTripFilter: RoundTripFilter?
        if corpus {
            let documents = try corpusData.loadDocuments()
            let prepared = try await SynthesisCorpus.prepare(documents, embedder: textEmbedder, settings: settings, progress: progress)
            grounding = prepared
            if let scorer = settings.roundTripScorer {
                let own = ["bm25", "dense"].contains(scorer) ? nil : try SynthesisBackendFactory.makeEmbedder(scorer)
                roundTripFilter = try await RoundTripFilter.prepare(scorer: scorer, k: settings.roundTripK, corpus: prepared, documents: documents,
                                                                    modelEmbedder: own, settings: settings, progress: progress)
            }
        }
        let pipeline = SynthesisPipeline(
            generator: model, judge: judge, embedder: textEmbedder, settings: settings, prompts: prompts, seeds: try settings.seedSet(),
            corpus: grounding, roundTrip: roundTripFilter, progress: progress)
        let started = Date()
        let stats = try await pipeline.run(outputDirectory: URL(fileURLWithPath: out))
        let seconds = Date().timeIntervalSince(started)
        if modelFree, seconds > 0 {
            let pairs = stats.selected + (try SyntheticDataExporter.readExamples(URL(fileURLWithPath: out).appendingPathComponent("examples.jsonl")).reduce(0) { $0 + $1.negatives.count })
            Log.write(String(format: "synthesize: %d examples (%d query-passage pairs) in %.1fs: %.0f pairs/min", stats.selected, pairs, seconds, Double(pairs) / seconds * 60))
        }
        print("examples: \(stats.selected)/\(stats.target)  pool: \(stats.poolAccepted)  items: \(stats.itemsAttempted)  requests: \(stats.usage.requests)  ~tokens: \(stats.estimatedPromptTokens + stats.estimatedCompletionTokens)")
        if let q = stats.quality {
            func f(_ x: Double) -> String { String(format: "%.3f", x) }
            print("accept rate: \(f(q.acceptRate)) (\(q.itemsAccepted)/\(q.itemsConsidered))  bm25 MRR@10: \(f(q.bm25.mrrAt10))  dense MRR@10: \(f(q.dense.mrrAt10))  "
                + "query words: \(f(q.queryWords.mean))  lexical overlap: \(f(q.lexicalOverlap))  pairwise distance: \(f(q.diversity.meanPairwiseQueryDistance))")
        }
    }
}

struct SynthesizeExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export examples.jsonl as pointwise SFT data (sharegpt, alpaca) or a BEIR collection (beir).")

    @Option(name: .customLong("in"), help: "A synthesize output directory (or an examples.jsonl file).")
    var input: String

    @Option(help: "sharegpt | alpaca | beir")
    var format: String

    @Option(help: "Output file (sharegpt, alpaca) or directory (beir).")
    var out: String

    @Flag(name: .customLong("with-reasoning"), help: "Put each passage's reasoning trace before the answer (needs \"reasoning_traces\": true).")
    var withReasoning = false

    @Option(help: ArgumentHelp(
        "sharegpt/alpaca only: limrank (LimRank's raw prompt ending in <think>, no system; train with LLaMA-Factory template: empty) or chatml (system message + user turn; a ChatML template).",
        valueName: "format"))
    var promptFormat: PointwisePromptFormat = .limrank

    func validate() throws {
        guard SyntheticDataExporter.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be one of: \(SyntheticDataExporter.Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        guard let chosen = SyntheticDataExporter.Format(rawValue: format) else { return }
        var source = URL(fileURLWithPath: input)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue {
            source = source.appendingPathComponent("examples.jsonl")
        }
        let examples = try SyntheticDataExporter.readExamples(source)
        let written = try SyntheticDataExporter.export(examples, format: chosen, to: URL(fileURLWithPath: out), withReasoning: withReasoning,
                                                       promptFormat: promptFormat)
        FileHandle.standardError.write(Data("export: \(examples.count) examples -> \(written) \(chosen == .beir ? "queries" : "records") in \(out)\n".utf8))
        if chosen != .beir {
            let info = URL(fileURLWithPath: out).deletingLastPathComponent().appendingPathComponent("dataset_info.json")
            FileHandle.standardError.write(Data(("export: LLaMA-Factory dataset '\(SyntheticDataExporter.datasetName(URL(fileURLWithPath: out)))' in \(info.path)"
                + " (template: \(promptFormat == .limrank ? "empty" : "the model's ChatML, e.g. qwen"))\n").utf8))
        }
    }
}

struct SynthesizePrompts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompts",
        abstract: "Write the built-in prompt templates into a directory, to edit and pass back as \"prompts_directory\".")

    @Option(help: "Directory to write <id>.txt files into.")
    var out: String

    func run() async throws {
        let directory = URL(fileURLWithPath: out)
        let store = try SynthesisStore(directory: directory)
        for template in SynthesisPrompts.builtIn.all {
            try store.writeAtomically(Data(SynthesisPrompts.serialize(template).utf8), to: directory.appendingPathComponent("\(template.id).txt"))
        }
        FileHandle.standardError.write(Data("prompts: wrote \(SynthesisPrompts.ids.count) templates to \(out)\n".utf8))
    }
}

/// Builds the synthesiser's model from the backend settings: `native` runs
/// a GGUF model in process; `openai` talks to any OpenAI-compatible server.
enum SynthesisBackendFactory {
    static let kinds = ["native", "openai"]

    /// `concurrency`: a server model's request limit, so that the items the
    /// pipeline runs at once are not queued behind the client's default of 4.
    static func makeModel(_ settings: SynthesisConfiguration.BackendSettings, scripted: ScriptedLanguageModel,
                          concurrency: Int = 4) throws -> any LanguageModel {
        switch settings.kind {
        case "native":
            return try NativeLanguageModel(gguf: try nativeModelURL(settings.model ?? "smollm2"))
        case "openai":
            guard let baseURL = settings.baseURL, let model = settings.model else {
                throw ValidationError("--backend openai needs --base-url and --model")
            }
            return try OpenAICompatibleModel(OpenAICompatibleConfiguration(baseURL: baseURL, model: model, apiKeyVariable: settings.apiKeyEnv,
                                                                           maxConcurrentRequests: concurrency))
        case "scripted":
            return scripted
        default:
            throw ValidationError("unknown backend \"\(settings.kind)\" (choose: \(kinds.joined(separator: ", ")))")
        }
    }

    /// What a newcomer gets without --embedder or a config's "embedder": the
    /// shipped MiniLM when it is installed (dedup, selection and the
    /// false-negative filter need real sentence embeddings), else the
    /// model-free hashing embedder.
    static func defaultEmbedder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        guard let url = try? ModelStore(environment: environment).resolve("minilm"),
              FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else { return "hashing" }
        return "minilm"
    }

    static func makeEmbedder(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any TextEmbedder {
        if name == "hashing" { return HashingEmbedder() }
        let directory: URL
        do {
            directory = try ModelStore(environment: environment).resolve(name)
        } catch {
            throw SynthesisError.backendUnavailable(name: "embedder \(name)", reason: "\(error) (use hashing, minilm, or a sentence-transformers directory)")
        }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.json").path) else {
            throw SynthesisError.backendUnavailable(
                name: "embedder \(name)", reason: "no config.json in \(directory.path) (use hashing, minilm, or a sentence-transformers directory)")
        }
        return try NativeEncoder(directory: directory)
    }

    /// A short name (`smollm2`), a models-cache entry or a path to a GGUF
    /// file, resolved the way every other command resolves models.
    static func nativeModelURL(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        do {
            return try ModelStore(environment: environment).resolve(name)
        } catch {
            throw SynthesisError.backendUnavailable(name: "native", reason: "\(error)")
        }
    }
}