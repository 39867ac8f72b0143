import ArgumentParser
import Foundation
import Grammar
import Models
import Tensor

/// Decoder prefill and decode speed on a fixed, reproducible prompt
/// (Scripts/bench/decoder_bench.sh gives llama.cpp the same ids).
struct BenchDecoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decoder",
        abstract: "Decoder throughput: prefill and decode tokens/s, peak resident memory.")

    @Option(help: "Short name, cache entry or .gguf path.")
    var model = "smollm2"

    @Option(help: "Prompt length (run as one prefill batch).")
    var promptTokens = 512

    @Option(help: "Tokens generated one at a time (greedy) after the prefill.")
    var genTokens = 128

    @Option(help: ArgumentHelp("Instead: constrained vs unconstrained decode on the same chat prompts, alternating, with this JSON Schema.", valueName: "file"))
    var jsonSchema: String?

    @Option(help: "With --json-schema: runs of each kind (medians are reported).")
    var rounds = 5

    @Option(help: ArgumentHelp("Also decode this many sequences together (`LlamaModel.decodeStep`, serve --parallel's step) and report their combined tokens/s.", valueName: "n"))
    var parallel = 1

    @OptionGroup var arithmetic: DecoderArithmeticOptions

    @Option(help: "text or json")
    var format: OutputFormat = .text

    func validate() throws {
        guard promptTokens > 0, genTokens > 0 else { throw ValidationError("--prompt-tokens and --gen-tokens must be positive") }
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
        guard parallel > 0 else { throw ValidationError("--parallel must be at least 1, got \(parallel)") }
    }

    /// Prompt id at position j: a multiplicative hash into [1000, 21000), away
    /// from special tokens; the bench script computes the same formula.
    static func tokenID(position j: Int) -> Int {
        1000 + Int((UInt64(j) &* 2_654_435_761 % 4_294_967_296) % 20000)
    }

    func run() throws {
        if jsonSchema != nil { return try runConstrained() }
        let (url, loaded) = try validationErrors {
            let url = try ModelStore().resolve(model)
            return (url, url.pathExtension == "gguf" ? try LlamaModel(gguf: url) : try LlamaModel(directory: url))
        }
        var decoder = loaded
        arithmetic.apply(to: &decoder)
        guard promptTokens + genTokens <= decoder.contextLength else {
            throw ValidationError("prompt + generated tokens exceed the context of \(decoder.contextLength)")
        }
        let prompt = (0..<promptTokens).map(Self.tokenID)
        let log = { (s: String) in FileHandle.standardError.write(Data("[bench decoder] \(s)\n".utf8)) }
        log("\(url.lastPathComponent): \(promptTokens) prompt + \(genTokens) generated tokens, \(Parallel.threadCount) threads, \(arithmetic.activations.rawValue) decode activations, \(arithmetic.kvCache.rawValue) KV cache")
        // Warm-up: touches every weight page and the kernels' first-call paths.
        _ = try decoder.forward(Array(prompt.prefix(16)), logits: .last)
        let clock = ContinuousClock()
        var cache = decoder.makeCache(capacity: promptTokens + genTokens)
        var t = clock.now
        var logits = try decoder.prefill(prompt, cache: &cache)
        let prefill = seconds(clock.now - t)
        log("prefill: \(String(format: "%.3f", prefill)) s")
        // The batched run below starts from the prompt's cache, kept before
        // decoding moves the sliding-window layers' rows on (copied while
        // untimed; only with --parallel).
        let promptCache = parallel > 1 ? cache.prefix(promptTokens, capacity: promptTokens + genTokens) : nil
        t = clock.now
        for _ in 0..<genTokens {
            let next = logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            logits = try decoder.forward([next], cache: &cache, logits: .last).logits
        }
        let decode = seconds(clock.now - t)
        log("decode: \(String(format: "%.3f", decode)) s")
        var batchedRate: Double?
        if parallel > 1 {
            // The prompt's cache copied for every sequence; each starts from
            // its own token and follows its own greedy path.
            // (A whole cache's prefix always exists.)
            var caches = (0..<parallel).map { _ in promptCache!.prefix(promptTokens, capacity: promptTokens + genTokens)! }
            var tokens = (0..<parallel).map { Self.tokenID(position: promptTokens + $0) }
            t = clock.now
            for _ in 0..<(genTokens - 1) {
                let rows = try decoder.decodeStep(tokens, caches: &caches)
                tokens = rows.map { row in row.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) } }
            }
            let batched = seconds(clock.now - t)
            batchedRate = Double(parallel * (genTokens - 1)) / batched
            log("decode, \(parallel) sequences per step: \(String(format: "%.3f", batched)) s for \(genTokens - 1) steps")
        }
        let prefillRate = Double(promptTokens) / prefill, decodeRate = Double(genTokens) / decode
        if let batchedRate {
            log("batched decode \(fmt(batchedRate)) tok/s over \(parallel) sequences = \(fmt(batchedRate / decodeRate))x one sequence's \(fmt(decodeRate))")
        }
        let rss = Self.peakResidentBytes()
        switch format {
        case .json:
            let batchedFields = batchedRate.map { ", \"batched_decode_tokens_per_s\": \(fmt($0)), \"parallel\": \(parallel)" } ?? ""
            print("{\"prefill_tokens_per_s\": \(fmt(prefillRate)), \"decode_tokens_per_s\": \(fmt(decodeRate)), "
                + "\"peak_rss_bytes\": \(rss), \"weights_bytes\": \(decoder.weightBytes), \"blas_kernels\": \"\(BLAS.kernelName)\"\(batchedFields)}")
        case .text:
            print("prefill \(fmt(prefillRate)) tok/s (OpenBLAS \(BLAS.kernelName))  decode (\(arithmetic.activations.rawValue)) \(fmt(decodeRate)) tok/s  peak RSS \(rss) bytes (weights \(decoder.weightBytes))")
        }
    }

    /// Prompts asking for JSON, so that the constrained run decodes what a
    /// synthesizer would; both kinds decode the same prompts.
    static let constrainedPrompts = [
        "Write a search query a student might type about heat transfer in supersonic flow, as JSON.",
        "Describe a made-up research paper about boundary layers as a JSON object.",
        "Give three keywords about aircraft wing flutter and rate their relevance, as JSON.",
    ]

    /// Decode tokens/s with and without the grammar of --json-schema (see
    /// `ConstrainedDecodeBenchmark`); medians over `rounds` alternating rounds.
    func runConstrained() throws {
        guard let grammar = try GenerateCommand.loadGrammar(jsonSchema: jsonSchema, grammar: nil) else { return }
        let (url, loaded) = try validationErrors {
            let url = try ModelStore().resolve(model)
            guard url.pathExtension == "gguf" else { throw ValidationError("--json-schema needs a .gguf model (it carries the tokenizer)") }
            return (url, try TextGenerator(gguf: url))
        }
        var generator = loaded
        arithmetic.apply(to: &generator.model)
        let log = { (s: String) in FileHandle.standardError.write(Data("[bench decoder] \(s)\n".utf8)) }
        let prompts = Self.constrainedPrompts.map { generator.promptTokens($0, chat: true) }
        log("\(url.lastPathComponent): \(prompts.count) chat prompts x \(genTokens) tokens, \(rounds) rounds, \(Parallel.threadCount) threads, schema \(jsonSchema ?? "")")
        let bench = ConstrainedDecodeBenchmark(generator: generator, grammar: grammar, prompts: prompts, tokens: genTokens, rounds: rounds)
        let result = try bench.run(log: log)
        log("token trie: \(result.trieNodes) nodes, built in \(fmt(result.trieSeconds)) s")
        for sample in result.samples { log("sample: \(sample)") }
        let free = ConstrainedDecodeBenchmark.median(result.unconstrained)
        let constrained = ConstrainedDecodeBenchmark.median(result.constrained)
        switch format {
        case .json:
            print("{\"unconstrained_tokens_per_s\": \(fmt(free)), \"constrained_tokens_per_s\": \(fmt(constrained)), \"ratio\": \(fmt(constrained / free)), \"rounds\": \(rounds)}")
        case .text:
            print("decode unconstrained \(fmt(free)) tok/s  constrained \(fmt(constrained)) tok/s  ratio \(fmt(constrained / free))x  (medians of \(rounds) alternating rounds, \(prompts.count) prompts x \(genTokens) tokens)")
        }
    }

    /// VmHWM of /proc/self/status (peak resident set), else getrusage's ru_maxrss.
    static func peakResidentBytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
                return kb * 1024
            }
        }
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Int(usage.ru_maxrss) * 1024
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
}
