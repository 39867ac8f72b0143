import Synchronization
import ArgumentParser
import Datasets
import Foundation
import LanguageModels
import Models
import RemoteModels
import Reranking

enum RerankerKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    case pointwise
    case crossEncoder = "cross-encoder"
    case dense, prp, listwise, icr

    /// The model used when --model is not given; cross-encoders ship none.
    var defaultModel: String? {
        switch self {
        case .dense: return "minilm"
        case .crossEncoder: return nil
        case .pointwise, .prp, .listwise, .icr: return "smollm2"
        }
    }
}

enum PRPVariant: String, ExpressibleByArgument, CaseIterable, Sendable {
    case sliding, allpairs
}

/// How to rerank; shared by `rerank` and `eval`.
struct RerankerOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Reranking strategy: pointwise, cross-encoder, dense, prp, listwise or icr.",
        discussion: """
            pointwise      LimRank/Rank1 style: P("true") of a decoder LLM per (query, passage)
            cross-encoder  a BERT sequence classifier's logit per (query, passage)
            dense          cosine of sentence embeddings (all-MiniLM-L6-v2 by default)
            prp            pairwise ranking prompting, both orders of each pair
            listwise       RankGPT-style sliding windows of passages
            icr            in-context reranking from the query's attention to each passage
            """))
    var reranker: RerankerKind?

    @Option(help: ArgumentHelp(
        "Model: a short name (minilm, smollm2), a model directory or .gguf path, or for pointwise/prp/listwise an OpenAI-compatible server as http(s)://HOST[:PORT]/v1#MODEL. Default: minilm for dense, smollm2 for the LLM strategies.",
        valueName: "name-or-path"))
    var model: String?

    @Option(help: "Rerank the top N candidates of each query; the rest keep their first-stage order below them.")
    var depth: Int = 100

    @Option(help: "Cut each passage to this many model tokens (default: 384 pointwise with --prompt-format chatml, uncut with limrank as Rank1 does, 200 prp, 100 listwise and icr).")
    var maxPassageTokens: Int?

    @Option(help: ArgumentHelp(
        "Pointwise only: let the model reason for up to N tokens before the true/false answer (0 answers at once). Default: 0 with --prompt-format chatml, 8192 (Rank1's budget) with limrank.",
        valueName: "n"))
    var reasoningTokens: Int?

    @Option(help: ArgumentHelp(
        "Pointwise only: limrank (Rank1/LimRank's raw prompt ending in <think>, no chat template; /v1/completions for servers) or chatml (system message and chat template, for instruction models). Default: what the model declares (a LimRank/Rank1 checkpoint, or limrank.json), else chatml.",
        valueName: "format"))
    var promptFormat: PointwisePromptFormat?

    @Option(help: ArgumentHelp(
        "Pointwise only: a query template with FILL_QUERY_HERE (Rank1's per-dataset prompts), or 'none'. Default: Rank1's template for BRIGHT subsets, none elsewhere.",
        valueName: "text"))
    var queryTemplate: String?

    @OptionGroup var adapterOption: AdapterOption

    @Option(help: "Listwise only: passages per window.")
    var window: Int = 20

    @Option(help: "Listwise only: how far each window moves up the list.")
    var step: Int = 10

    @Option(help: "PRP only: sliding (K bubble-sort passes, O(K*n) comparisons) or allpairs (O(n^2)).")
    var prpVariant: PRPVariant = .sliding

    @Option(help: "PRP sliding only: the K of top-K to sort.")
    var prpTopK: Int = 10

    @Option(help: ArgumentHelp(
        "Server models only: requests in flight at once, across the passages (pointwise), pairs (prp) and queries of the run (listwise windows of one query stay in order). Results, cache entries and warnings are the same for any N. In process the engine threads each forward pass itself, so N stays 1.",
        valueName: "n"))
    var concurrency: Int = 1

    @Option(help: ArgumentHelp("Server models only: the environment variable holding the API key.", valueName: "name"))
    var apiKeyEnv: String?

    @Option(help: ArgumentHelp("Cache file of rankings, so a repeated run costs nothing (default: $LIMRANK_CACHE or ~/.cache/limrank/rankings.jsonl).", valueName: "file"))
    var cache: String?

    @Flag(help: "Do not read or write the ranking cache.")
    var noCache = false

    @Option(help: ArgumentHelp(
        "Fuse the reranker's scores with the first stage's instead of replacing them: interpolate:LAMBDA (per-query min-max normalised scores, LAMBDA = the reranker's weight) or rrf:K (reciprocal rank fusion).",
        valueName: "method"))
    var fuse: String?

    /// The parsed --fuse (validate() has checked it).
    var fusion: ScoreFusion? { fuse.flatMap { try? ScoreFusion(parsing: $0) } }

    func validate() throws {
        guard depth > 0 else { throw ValidationError("--depth must be at least 1") }
        if let maxPassageTokens, maxPassageTokens < 1 { throw ValidationError("--max-passage-tokens must be at least 1") }
        if let reasoningTokens, reasoningTokens < 0 { throw ValidationError("--reasoning-tokens must be >= 0") }
        if reranker != .pointwise, promptFormat != nil || queryTemplate != nil || reasoningTokens != nil {
            throw ValidationError("--prompt-format, --query-template and --reasoning-tokens are for --reranker pointwise")
        }
        if let queryTemplate, queryTemplate != "none", !queryTemplate.contains(PointwisePrompt.queryPlaceholder) {
            throw ValidationError("--query-template must contain \(PointwisePrompt.queryPlaceholder) (or be 'none')")
        }
        guard window >= 2 else { throw ValidationError("--window must be at least 2") }
        guard step >= 1, step <= window else { throw ValidationError("--step must be between 1 and --window") }
        guard prpTopK >= 1 else { throw ValidationError("--prp-top-k must be at least 1") }
        if reranker == nil, model != nil { throw ValidationError("--model needs --reranker") }
        if reranker == .crossEncoder, model == nil {
            throw ValidationError("--reranker cross-encoder needs --model DIR (a BERT sequence-classification checkpoint); no cross-encoder ships with LimRank")
        }
        if noCache, cache != nil { throw ValidationError("--cache and --no-cache exclude each other") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1, got \(concurrency)") }
        if concurrency > 1, reranker != nil, serverModel == nil {
            throw ValidationError("--concurrency is for server models (--model http://HOST:PORT/v1#NAME); in process the engine threads each forward pass itself")
        }
        if let fuse {
            guard reranker != nil else { throw ValidationError("--fuse needs --reranker") }
            do { _ = try ScoreFusion(parsing: fuse) } catch { throw ValidationError("--fuse: \(error)") }
        }
    }

    var modelName: String? { model ?? reranker?.defaultModel }

    /// Builds the reranker, wrapped in the ranking cache unless --no-cache.
    /// `http(s)://host/v1#served-model-name`: the fragment names the model.
    var serverModel: (baseURL: String, model: String)? {
        guard let name = modelName, name.hasPrefix("http://") || name.hasPrefix("https://") else { return nil }
        let parts = name.split(separator: "#", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : "default")
    }

    /// `subset`: the BRIGHT subset being reranked, whose Rank1 query template applies.
    /// `monitor` sees a server model's requests (for progress lines).
    func make(brightSubset subset: String? = nil, monitor: RequestMonitor? = nil) throws -> (any Reranker)? {
        guard let kind = reranker, let name = modelName else { return nil }
        if let server = serverModel {
            let remote = try OpenAICompatibleModel(
                OpenAICompatibleConfiguration(baseURL: server.baseURL, model: server.model, apiKeyVariable: apiKeyEnv,
                                              maxConcurrentRequests: concurrency),
                monitor: monitor)
            let base: any Reranker
            var pointwiseTag = ""
            switch kind {
            case .pointwise:
                // A server's model is declared by the name it is served under (vLLM: songtingyu/LimRank).
                let format = promptFormat ?? (PointwisePromptFormat.namesRank1Family(server.model) ? .limrank : .chatml)
                var r = pointwise(remote, format: format, brightSubset: subset)
                r.concurrency = concurrency
                pointwiseTag = "|\(r.format.rawValue)|\(r.versionTag)"
                base = r
            case .prp:
                var r = PairwiseReranker(model: remote, variant: prpVariant == .allpairs ? .allPairs : .slidingWindow(topK: prpTopK),
                                         maxPassageTokens: maxPassageTokens ?? 200)
                r.concurrency = concurrency
                base = r
            case .listwise:
                base = try ListwiseReranker(model: remote, windowSize: window, step: step, maxPassageTokens: maxPassageTokens ?? 100)
            case .dense, .crossEncoder, .icr:
                throw ValidationError("--reranker \(kind.rawValue) runs in process only; give a local model, not a server URL")
            }
            if noCache { return base }
            // The prompt version is part of the key (it was not before session 4).
            let fingerprint = "\(kind.rawValue)|\(name)|\(maxPassageTokens ?? 0)|\(reasoningTokens ?? 0)|\(window)/\(step)|\(prpVariant)/\(prpTopK)" + pointwiseTag
            return CachedReranker(base: base, fingerprint: fingerprint, store: try RankingCache(url: cache.map { URL(fileURLWithPath: $0) } ?? Self.defaultCache))
        }
        let url = try ModelStore().resolve(name)
        Log.write("loading \(url.path)")
        let base: any Reranker
        var settings = "\(kind.rawValue)"
        switch kind {
        case .dense:
            base = DenseReranker(embedder: try NativeEncoder(directory: url))
        case .crossEncoder:
            base = CrossEncoderReranker(scorer: try NativeEncoder(directory: url))
        case .pointwise:
            // An adapter is what was trained on a format (`limrank train` writes
            // limrank.json beside it), so its declaration comes before the base's.
            let declared = try adapterOption.adapter.flatMap { try PointwisePromptFormat.declared(byModelAt: URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath)) }
                ?? PointwisePromptFormat.declared(byModelAt: url)
            let format = promptFormat ?? declared ?? .chatml
            if promptFormat == nil { Log.write("pointwise prompt format: \(format.rawValue)" + (declared == nil ? " (the model declares none)" : " (declared by the model)")) }
            let r = pointwise(try llm(url), format: format, brightSubset: subset)
            // "match:normalized": answers are read as every token spelling them
            // (since session 2); the tag keeps older cached scores from being reused.
            settings += "|\(r.versionTag)|\(r.maxPassageTokens ?? 0)|\(r.reasoningTokens)|"
                + (format == .chatml ? "match:normalized" : "match:first-token")
            base = r
        case .prp:
            let variant: PairwiseReranker.Variant = prpVariant == .allpairs ? .allPairs : .slidingWindow(topK: prpTopK)
            let r = PairwiseReranker(model: try llm(url), variant: variant, maxPassageTokens: maxPassageTokens ?? 200)
            settings += "|\(r.template.versionTag)|\(r.maxPassageTokens)|\(variant)|match:normalized"
            base = r
        case .listwise:
            let r = try ListwiseReranker(model: try llm(url), windowSize: window, step: step, maxPassageTokens: maxPassageTokens ?? 100)
            settings += "|\(r.template.versionTag)|\(r.maxPassageTokens)|\(window)/\(step)"
            base = r
        case .icr:
            let r = ICRReranker(model: try llm(url), maxPassageTokens: maxPassageTokens ?? 100)
            settings += "|icr@v1|\(r.maxPassageTokens)|\(r.calibrationQuery)"
            base = r
        }
        if noCache { return base }
        let file = cache.map { URL(fileURLWithPath: $0) } ?? Self.defaultCache
        let fingerprint = settings + "|" + Self.modelFingerprint(url) + adapterOption.fingerprint
        return CachedReranker(base: base, fingerprint: fingerprint, store: try RankingCache(url: file))
    }

    /// The pointwise reranker with this format's defaults: Rank1 cuts no
    /// passage and reasons up to 8192 tokens; the chat layout keeps the
    /// project's 384-token passages and answers at once (an untuned
    /// instruction model gains nothing from reasoning, and it is slow).
    func pointwise(_ model: any LanguageModel, format: PointwisePromptFormat, brightSubset: String?) -> PointwiseLLMReranker {
        let template: String?
        switch queryTemplate {
        case "none"?: template = nil
        case let given?: template = given
        case nil: template = brightSubset.map { BRIGHTDataset.rank1QueryTemplate(subset: $0) }
        }
        return PointwiseLLMReranker(
            model: model, format: format, queryTemplate: template,
            maxPassageTokens: maxPassageTokens ?? (format == .limrank ? nil : 384),
            reasoningTokens: reasoningTokens ?? (format == .limrank ? Self.rank1ReasoningTokens : 0))
    }

    /// Rank1's `max_output_tokens`.
    static let rank1ReasoningTokens = 8192

    private func llm(_ url: URL) throws -> NativeLanguageModel {
        var generator: TextGenerator
        if url.pathExtension.lowercased() == "gguf" {
            guard adapterOption.adapter != nil else { return try NativeLanguageModel(gguf: url) }
            generator = try TextGenerator(gguf: url)
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--reranker \(reranker?.rawValue ?? "") needs a decoder LLM (a .gguf file or a checkpoint directory); \(url.path) is neither")
            }
            generator = try validationErrors(message: { "\(url.path): \($0)" }) { try TextGenerator(directory: url) }
        }
        // --adapter: a PEFT LoRA adapter merged into the weights at load.
        try adapterOption.apply(to: &generator.model)
        return NativeLanguageModel(generator: generator)
    }

    static var defaultCache: URL {
        if let env = ProcessInfo.processInfo.environment["LIMRANK_CACHE"], !env.isEmpty { return URL(fileURLWithPath: env) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/limrank/rankings.jsonl")
    }

    /// Path, size and modification time: a replaced model file invalidates its cache entries.
    static func modelFingerprint(_ url: URL) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(url.standardizedFileURL.path)|\(size)|\(Int(modified))"
    }
}

/// Reranks a run with progress and throughput on stderr.
enum RerankDriver {
    struct Outcome {
        var run: Run
        var documents: Int
        var seconds: Double
        var docsPerSecond: Double { seconds > 0 ? Double(documents) / seconds : 0 }
    }

    /// `concurrency`: queries in flight (a server model bounds the requests
    /// they make); `monitor`: the server model's request counts, for the
    /// progress line's requests in flight and tokens/s.
    static func rerank(_ run: Run, collection: TestCollection, reranker: any Reranker, depth: Int,
                       concurrency: Int = 1, monitor: RequestMonitor? = nil, fusion: ScoreFusion? = nil) async throws -> Outcome {
        let documents = Dictionary(collection.documents.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let total = run.rankings.values.reduce(0) { $0 + min(depth, $1.count) }
        let start = Date()
        let meter = Mutex((passages: 0, lastPrint: Date.distantPast))
        var driver = RunReranker(reranker: reranker, depth: depth) { done, queries in
            let now = Date()
            let (passages, due) = meter.withLock { state -> (Int, Bool) in
                let due = done == queries || now.timeIntervalSince(state.lastPrint) >= 2
                if due { state.lastPrint = now }
                return (state.passages, due)
            }
            guard due else { return }
            Log.write(progressLine(done: done, queries: queries, passages: passages, total: total,
                                   elapsed: now.timeIntervalSince(start), requests: monitor?.snapshot))
        }
        driver.concurrency = concurrency
        driver.onQueryDone = { count in meter.withLock { $0.passages += count } }
        driver.fusion = fusion
        let repaired = Mutex(0)
        driver.onWarnings = { queryID, warnings in
            repaired.withLock { $0 += 1 }
            Log.write("warning: query \(queryID): " + warnings.joined(separator: "; "))
        }
        let reranked = try await driver.rerank(run: run, queries: runQueries(collection), documents: documents)
        let seconds = Date().timeIntervalSince(start)
        Log.write("\(reranker.name): \(total) documents in \(String(format: "%.1f", seconds))s")
        let queriesWithWarnings = repaired.withLock { $0 }
        if queriesWithWarnings > 0 {
            Log.write("warning: \(reranker.name) repaired the model's answer for \(queriesWithWarnings) of \(run.rankings.count) queries (see above)")
        }
        return Outcome(run: reranked, documents: total, seconds: seconds)
    }

    /// "reranked 12/225 queries, 240/4500 passages, 31.2 passages/s, 8 requests in flight, 5210 tokens/s, ETA 2m16s".
    static func progressLine(done: Int, queries: Int, passages: Int, total: Int, elapsed: Double,
                             requests: RequestMonitor.Snapshot?) -> String {
        let rate = elapsed > 0 ? Double(passages) / elapsed : 0
        var line = "reranked \(done)/\(queries) queries, \(passages)/\(total) passages, \(String(format: "%.1f", rate)) passages/s"
        if let requests {
            line += ", \(requests.inFlight) requests in flight"
            let tokens = requests.promptTokens + requests.completionTokens
            if tokens > 0, elapsed > 0 {
                line += ", \(Int((Double(tokens) / elapsed).rounded())) tokens/s (\(Int((Double(requests.completionTokens) / elapsed).rounded())) generated)"
            }
        }
        if rate > 0, passages < total {
            let eta = Int((Double(total - passages) / rate).rounded())
            line += ", ETA " + (eta >= 3600 ? "\(eta / 3600)h\(eta % 3600 / 60)m" : eta >= 60 ? "\(eta / 60)m\(eta % 60)s" : "\(eta)s")
        }
        return line + " (\(String(format: "%.1f", elapsed))s)"
    }

    /// The queries a run of this collection names: for FollowIR each query
    /// twice, `<qid>-og` with the original and `<qid>-changed` with the
    /// changed instruction, so the reranker reads the instruction that applies.
    static func runQueries(_ collection: TestCollection) -> [Query] {
        guard let change = collection.instructionChange else { return collection.queries }
        func renamed(_ q: Query, _ suffix: String) -> Query {
            Query(id: q.id + suffix, text: q.text, instruction: q.instruction)
        }
        return collection.queries.map { renamed($0, BM25Runs.originalSuffix) }
            + change.queries.map { renamed($0, BM25Runs.changedSuffix) }
    }
}

extension PointwisePromptFormat: ExpressibleByArgument {}
