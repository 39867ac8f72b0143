import ArgumentParser
import Foundation
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

    @OptionGroup var arithmetic: DecoderArithmeticOptions

    @OptionGroup var adapterOption: AdapterOption

    @Option(help: "text or json")
    var format: DecoderOutputFormat = .text

    func validate() throws {
        guard !prompt.isEmpty else { throw ValidationError("--prompt must not be empty") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be >= 0") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let result: GenerationResult
        do {
            let url = try ModelStore().resolve(model)
            guard url.pathExtension == "gguf" else {
                throw ValidationError("generate needs a .gguf model (it carries the tokenizer); got \(url.path)")
            }
            var generator = try TextGenerator(gguf: url)
            arithmetic.apply(to: &generator.model)
            try adapterOption.apply(to: &generator.model)
            result = try generator.generate(
                prompt: prompt, chat: chat,
                parameters: GenerationParameters(
                    maxTokens: maxTokens,
                    sampling: SamplingParameters(temperature: temperature, topP: topP, seed: seed),
                    stop: stop))
        } catch let error as ModelsError {
            throw ValidationError(error.description)
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

/// `--format` of the decoder commands.
enum DecoderOutputFormat: String, ExpressibleByArgument, Sendable {
    case text
    case json
}
