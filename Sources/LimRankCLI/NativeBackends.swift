import ArgumentParser
import Foundation
import LanguageModels
import Models

/// Loads the native engine's models as the server's backends.
enum NativeBackends {
    static func embedder(_ name: String) throws -> any TextEmbedder {
        do {
            return try NativeEncoder(directory: try ModelStore().resolve(name))
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        }
    }

    static func generator(_ name: String, arithmetic: DecoderArithmeticOptions, adapter: AdapterOption? = nil) throws -> any StreamingTextGenerator {
        do {
            var generator = try TextGenerator(gguf: try ModelStore().resolve(name))
            arithmetic.apply(to: &generator.model)
            try adapter?.apply(to: &generator.model)
            return NativeStreamingGenerator(generator)
        } catch let error as ModelsError {
            throw ValidationError(error.description)
        }
    }
}
