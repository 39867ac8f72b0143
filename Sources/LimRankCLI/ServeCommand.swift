import ArgumentParser
import Foundation
import Hummingbird
import LanguageModels
import Reranking
import Server

/// `limrank serve`: reranking, embeddings and OpenAI-compatible generation over HTTP.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve /v1/rerank, /rerank, /v1/embeddings, /v1/chat/completions and /v1/completions over HTTP.",
        discussion: """
        --reranker dense --model minilm serves cosine reranking and embeddings with the MiniLM bi-encoder;
        --reranker pointwise --model smollm2 serves LimRank-style pointwise reranking and generation with SmolLM2.
        Add --embedding-model / --generation-model to serve the other endpoints too.
        """)

    enum RerankerKind: String, ExpressibleByArgument, CaseIterable { case dense, pointwise, none }

    @Option(help: "Address to bind (loopback by default; 0.0.0.0 exposes the server).")
    var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one and prints it).")
    var port = 8080
    @Option(help: "Reranking strategy behind /v1/rerank: dense, pointwise or none.")
    var reranker: RerankerKind = .dense
    @Option(help: "Model of the reranker: short name, cache entry, directory or .gguf file.")
    var model: String?
    @Option(help: "Sentence encoder for /v1/embeddings (defaults to --model with --reranker dense).")
    var embeddingModel: String?
    @Option(help: "Generator for /v1/chat/completions and /v1/completions (defaults to --model with --reranker pointwise).")
    var generationModel: String?
    @Option(help: ArgumentHelp(
        "The generator's name for clients (as vLLM's --served-model-name): reported in /v1/models and responses, and the only name requests may use. Without it the generator answers to the name it was started with (e.g. smollm2) and its file's name.",
        valueName: "name"))
    var servedModelName: String?
    @Option(help: "Environment variable holding the bearer token clients must send; unset means no auth.")
    var apiKeyEnv: String?
    @Option(help: "Largest request body in bytes (413 beyond).")
    var maxBodyBytes = 2 << 20
    @Option(help: "Most documents per rerank request (400 beyond).")
    var maxDocuments = 1000
    @Option(help: "Milliseconds the encoder waits to fill a batch.")
    var batchWaitMs = 2
    @Option(help: "Most texts per encoder batch.")
    var maxBatch = 64
    @Option(help: "Most texts waiting for the encoder (429 beyond).")
    var maxQueue = 4096
    @Option(help: "Most generation requests waiting (429 beyond).")
    var maxQueuedGenerations = 32
    @Option(help: ArgumentHelp(
        "Completion requests decoded together in shared forward passes (llama.cpp's parallel slots); more wait for a free slot. 1 runs one generation at a time.",
        valueName: "n"))
    var parallel = 8
    @Option(help: ArgumentHelp(
        "Fuse rerank scores with the client's first stage: interpolate:LAMBDA or rrf:K (as rerank/eval --fuse). The first stage is the request's first_stage_scores, else its document order.",
        valueName: "method"))
    var fuse: String?

    @OptionGroup var arithmetic: DecoderArithmeticOptions

    @OptionGroup var adapterOption: AdapterOption

    func validate() throws {
        if reranker != .none, model == nil { throw ValidationError("--reranker \(reranker.rawValue) needs --model") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535") }
        if parallel < 1 { throw ValidationError("--parallel must be at least 1, got \(parallel)") }
        if let servedModelName, servedModelName.isEmpty { throw ValidationError("--served-model-name must not be empty") }
        if let fuse {
            guard reranker != .none else { throw ValidationError("--fuse needs a --reranker") }
            do { _ = try ScoreFusion(parsing: fuse) } catch { throw ValidationError("--fuse: \(error)") }
        }
        if let apiKeyEnv, (ProcessInfo.processInfo.environment[apiKeyEnv] ?? "").isEmpty {
            throw ValidationError("--api-key-env \(apiKeyEnv): that environment variable is unset or empty")
        }
    }

    func run() async throws {
        let log = { (s: String) in FileHandle.standardError.write(Data("[serve] \(s)\n".utf8)) }
        var backends = ServerBackends()
        let embedderName = embeddingModel ?? (reranker == .dense ? model : nil)
        let generatorName = generationModel ?? (reranker == .pointwise ? model : nil)
        if let embedderName {
            log("loading sentence encoder \(embedderName)")
            backends.embedder = try NativeBackends.embedder(embedderName)
            // Clients name the model as the server was told it (`minilm`, a path).
            if let embedder = backends.embedder, embedder.identifier != embedderName { backends.aliases[embedderName] = embedder.identifier }
        }
        if let generatorName {
            log("loading generator \(generatorName)")
            backends.generator = try NativeBackends.generator(generatorName, arithmetic: arithmetic, adapter: adapterOption)
            if let generator = backends.generator, generator.identifier != generatorName { backends.aliases[generatorName] = generator.identifier }
        }
        switch reranker {
        case .dense:
            backends.reranker = .dense
        case .pointwise:
            guard let generator = backends.generator else { throw ValidationError("--reranker pointwise needs a generator") }
            // The engine in this process reads P(" true") over its whole
            // vocabulary (as `limrank rerank` does); a top-20 cut found neither
            // answer for Gemma 3 270M base and scored every pair 0.5.
            let scorer: any LanguageModel = (generator as? NativeStreamingGenerator).map { NativeLanguageModel(generator: $0.generator) }
                ?? GeneratorLanguageModel(generator)
            backends.reranker = .strategy(PointwiseLLMReranker(model: scorer),
                                          model: servedModelName ?? generator.identifier, scale: .probability)
        case .none:
            backends.reranker = nil
        }
        backends.fusion = try fuse.map { try ScoreFusion(parsing: $0) }
        var settings = ServerConfiguration(
            host: host, port: port, apiKey: apiKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] },
            maxBodyBytes: maxBodyBytes, maxDocuments: maxDocuments, batchWaitMilliseconds: batchWaitMs,
            maxBatchTexts: maxBatch, maxQueuedTexts: maxQueue, maxQueuedGenerations: maxQueuedGenerations)
        settings.servedModelName = servedModelName
        settings.parallelGenerations = parallel
        let configuration = settings
        let app = try buildApplication(configuration: configuration, backends: backends) { port in
            // Scripts and tests that asked for port 0 read the real one from here.
            FileHandle.standardOutput.write(Data("listening on http://\(configuration.host):\(port)\n".utf8))
        }
        // SIGTERM/SIGINT start a graceful shutdown: no new connections, in-flight requests finish.
        try await app.runService()
    }
}
