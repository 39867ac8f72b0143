import ArgumentParser
import Models
import Tensor

/// `--activations` and `--kv-cache` of the decoder commands: exact f32 by
/// default, llama.cpp's own defaults with `int8` and `f16`.
struct DecoderArithmeticOptions: ParsableArguments {
    @Option(help: "Decode arithmetic: f32 (exact, transformers parity) or int8 (llama.cpp's 8-bit activations, faster).")
    var activations: ActivationPrecision = .float32

    @Option(help: "KV cache storage: f32 (exact) or f16 (half the memory, as llama.cpp's default).")
    var kvCache: KVCache.Precision = .float32

    func apply(to model: inout LlamaModel) {
        model.decodeActivations = activations
        model.kvCachePrecision = kvCache
    }
}

extension ActivationPrecision: ExpressibleByArgument {}
extension KVCache.Precision: ExpressibleByArgument {}
