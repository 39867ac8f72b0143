import ArgumentParser
import LanguageModels

/// Loads the native engine's models as the server's backends.
enum NativeBackends {
    static func embedder(_ name: String) throws -> any TextEmbedder {
        throw ValidationError("the native sentence encoder is not in this build yet (model '\(name)')")
    }

    static func generator(_ name: String) throws -> any StreamingTextGenerator {
        throw ValidationError("the native generator is not in this build yet (model '\(name)')")
    }
}
