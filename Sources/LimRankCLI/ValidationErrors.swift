import ArgumentParser
import Datasets
import Grammar
import Models
import Training

/// The one mapping from LimRank's error enums to ArgumentParser's
/// `ValidationError` (the message on stderr and exit status 64): bad input
/// reads as a usage error naming its file, line or field, not a crash.
/// Other errors pass through unchanged. `message` may reword the error's
/// description, to name the flag that gave the input.
func validationError(_ error: any Error, message: (String) -> String = { $0 }) -> any Error {
    switch error {
    case let e as TrainingError: ValidationError(message(e.description))
    case let e as ModelsError: ValidationError(message(e.description))
    case let e as DatasetError: ValidationError(message(e.description))
    case let e as GrammarError: ValidationError(message(e.description))
    default: error
    }
}

/// Runs `body`, its LimRank errors turned into `ValidationError`s.
func validationErrors<T>(message: (String) -> String = { $0 }, _ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw validationError(error, message: message) }
}

func validationErrors<T>(message: (String) -> String = { $0 }, _ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw validationError(error, message: message) }
}
