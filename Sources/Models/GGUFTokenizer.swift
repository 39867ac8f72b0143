import Foundation
import ModelFormats
import Tokenizers

/// The tokenizer stored in a GGUF's `tokenizer.ggml.*` metadata, so a GGUF
/// alone is a complete model: byte-level BPE (`tokenizer.ggml.model =
/// "gpt2"`: SmolLM2, Qwen) or SentencePiece (`"llama"`: Gemma, Llama 2, Mistral).
extension Tokenizer {
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        let kind = try m.string("tokenizer.ggml.model")
        func optionalID(_ key: String) throws -> Int? { m.contains(key) ? try m.int(key) : nil }
        let types = m.contains("tokenizer.ggml.token_type") ? try m.intArray("tokenizer.ggml.token_type").map { Int32($0) } : []
        switch kind {
        case "gpt2":
            try self.init(
                ggufTokens: try m.stringArray("tokenizer.ggml.tokens"),
                merges: try m.stringArray("tokenizer.ggml.merges"),
                tokenTypes: types,
                pre: try m.string("tokenizer.ggml.pre", default: "default"),
                bosTokenID: try optionalID("tokenizer.ggml.bos_token_id"),
                eosTokenID: try optionalID("tokenizer.ggml.eos_token_id"),
                unknownTokenID: try optionalID("tokenizer.ggml.unknown_token_id"),
                paddingTokenID: try optionalID("tokenizer.ggml.padding_token_id"))
        case "llama":
            let tokens = try m.stringArray("tokenizer.ggml.tokens")
            // Absent flags take llama.cpp's defaults for an SPM vocabulary: a space prefix and BOS, no EOS.
            try self.init(
                ggufSentencePieceTokens: tokens,
                scores: try m.floatArray("tokenizer.ggml.scores").map { Float($0) },
                tokenTypes: types,
                addSpacePrefix: try m.bool("tokenizer.ggml.add_space_prefix", default: true),
                addBOS: try m.bool("tokenizer.ggml.add_bos_token", default: true),
                addEOS: try m.bool("tokenizer.ggml.add_eos_token", default: false),
                bosTokenID: try optionalID("tokenizer.ggml.bos_token_id"),
                eosTokenID: try optionalID("tokenizer.ggml.eos_token_id"),
                unknownTokenID: try optionalID("tokenizer.ggml.unknown_token_id"),
                paddingTokenID: try optionalID("tokenizer.ggml.padding_token_id"))
        default:
            throw ModelsError.unsupported(key: "tokenizer.ggml.model", value: kind, file: file.path)
        }
    }

    public init(gguf url: URL) throws {
        try self.init(gguf: try GGUFFile(contentsOf: url))
    }
}
