import ArgumentParser
import Foundation
import LanguageModels
import Models

/// Loads the native engine's models as the server's backends.
enum NativeBackends {
    static func embedder(_ name: String) throws -> any TextEmbedder {
        try validationErrors { try NativeEncoder(directory: try ModelStore().resolve(name)) }
    }

    static func generator(_ name: String, arithmetic: DecoderArithmeticOptions, adapter: AdapterOption? = nil) throws -> any StreamingTextGenerator {
        try validationErrors {
            var generator = try TextGenerator(gguf: try ModelStore().resolve(name))
            arithmetic.apply(to: &generator.model)
            try adapter?.apply(to: &generator.model)
            return NativeStreamingGenerator(generator)
        }
    }
}
