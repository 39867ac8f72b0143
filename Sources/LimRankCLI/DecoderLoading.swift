import ArgumentParser
import Foundation
import Models
import Tokenizers

/// A decoder to fine-tune: its weights and the tokenizer that goes with it.
enum DecoderLoading {
    static func load(_ url: URL) throws -> (LlamaModel, Tokenizer) {
        guard let model = try ModelRegistry.load(url) as? LlamaModel else {
            throw ValidationError("\(url.path) is not a Llama-family decoder (llama, qwen2, qwen3)")
        }
        let tokenizer = url.pathExtension.lowercased() == "gguf" ? try Tokenizer(gguf: url) : try Tokenizer(directory: url)
        return (model, tokenizer)
    }
}
