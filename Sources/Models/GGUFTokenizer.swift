import Foundation
import ModelFormats
import Tokenizers

/// The byte-level BPE tokenizer stored in a GGUF's `tokenizer.ggml.*`
/// metadata (SmolLM2, Qwen), so a GGUF alone is a complete model.
extension Tokenizer {
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        let kind = try m.string("tokenizer.ggml.model")
        // "gpt2" is llama.cpp's name for byte-level BPE; SentencePiece ("llama") is another algorithm.
        guard kind == "gpt2" else {
            throw ModelsError.unsupported(key: "tokenizer.ggml.model", value: kind, file: file.path)
        }
        func optionalID(_ key: String) throws -> Int? { m.contains(key) ? try m.int(key) : nil }
        let types = m.contains("tokenizer.ggml.token_type") ? try m.intArray("tokenizer.ggml.token_type").map { Int32($0) } : []
        try self.init(
            ggufTokens: try m.stringArray("tokenizer.ggml.tokens"),
            merges: try m.stringArray("tokenizer.ggml.merges"),
            tokenTypes: types,
            pre: try m.string("tokenizer.ggml.pre", default: "default"),
            bosTokenID: try optionalID("tokenizer.ggml.bos_token_id"),
            eosTokenID: try optionalID("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try optionalID("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: try optionalID("tokenizer.ggml.padding_token_id"))
    }

    public init(gguf url: URL) throws {
        try self.init(gguf: try GGUFFile(contentsOf: url))
    }
}
