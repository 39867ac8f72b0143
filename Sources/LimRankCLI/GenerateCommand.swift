import ArgumentParser
import Foundation
import Grammar
import Models

/// `limrank generate`: text generation with a decoder (a GGUF with its tokenizer).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a decoder model (greedy or seeded temperature/top-p sampling).")

    @Option(help: "Short name (smollm2), cache entry or .gguf path.")
    var model = "smollm2"

    @Option(help: "The prompt text.")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxTokens = 64

    @Option(help: "0 is greedy.")
    var temperature = 0.0

    @Option(help: "Nucleus sampling mass (with --temperature > 0).")
    var topP = 1.0

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @Flag(help: "Wrap the prompt as a user turn of the model's chat template, with the assistant prompt.")
    var chat = false

    @Option(help: "Stop when the output contains this text (repeatable).")
    var stop: [String] = []

    @Option(help: ArgumentHelp("Constrain the output to JSON valid under this JSON Schema file.", valueName: "file"))
    var jsonSchema: String?

    @Option(help: ArgumentHelp("Constrain the output to this GBNF grammar file (llama.cpp syntax, start rule 'root').", valueName: "file"))
    var grammar: String?

    @OptionGroup var arithmetic: DecoderArithmeticOptions

    @OptionGroup var adapterOption: AdapterOption

    @Option(help: "text or json")
    var format: OutputFormat = .text

    func validate() throws {
        guard !prompt.isEmpty else { throw ValidationError("--prompt must not be empty") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        if jsonSchema != nil, grammar != nil { throw ValidationError("give --json-schema or --grammar, not both") }
    }

    /// The grammar of --json-schema or --grammar; errors name the file (and line:column or JSON pointer).
    static func loadGrammar(jsonSchema: String?, grammar: String?) throws -> Grammar? {
        let (path, option) = jsonSchema.map { ($0, "--json-schema") } ?? grammar.map { ($0, "--grammar") } ?? ("", "")
        guard !path.isEmpty else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("\(option) \(path): cannot read the file (\(error.localizedDescription))")
        }
        return try validationErrors(message: { "\(option): " + ($0.contains(path) ? $0 : "\(path): \($0)") }) {
            jsonSchema != nil ? try JSONSchemaGrammar.grammar(schema: text, source: path) : try Grammar(gbnf: text, source: path)
        }
    }

    func run() throws {
        let constraint = try Self.loadGrammar(jsonSchema: jsonSchema, grammar: grammar)
        let result = try validationErrors {
            let url = try ModelStore().resolve(model)
            guard url.pathExtension == "gguf" else {
                throw ValidationError("generate needs a .gguf model (it carries the tokenizer); got \(url.path)")
            }
            var generator = try TextGenerator(gguf: url)
            arithmetic.apply(to: &generator.model)
            try adapterOption.apply(to: &generator.model)
            return try generator.generate(
                prompt: prompt, chat: chat,
                parameters: GenerationParameters(
                    maxTokens: maxTokens,
                    sampling: SamplingParameters(temperature: temperature, topP: topP, seed: seed),
                    stop: stop, grammar: constraint))
        }
        if constraint != nil, result.finishReason == .length {
            FileHandle.standardError.write(Data("limrank generate: --max-tokens \(maxTokens) cut the output off before the grammar was complete; it may not parse\n".utf8))
        }
        switch format {
        case .json:
            struct Output: Encodable {
                var text: String
                var tokens: [Int]
                var finish_reason: String
                var prompt_tokens: Int
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(Output(text: result.text, tokens: result.tokens,
                                                 finish_reason: result.finishReason.rawValue,
                                                 prompt_tokens: result.promptTokens))
            print(String(decoding: data, as: UTF8.self))
        case .text:
            print(result.text)
        }
    }
}
