import ArgumentParser
import Datasets
import Grammar
import Models
import Training

/// The one mapping from LimRank's error enums to ArgumentParser's
/// `ValidationError` (the message on stderr and exit status 64): bad input
/// reads as a usage error naming its file, line or field, not a crash.
/// Other errors pass through unchanged.
func validationError(_ error: any Error) -> any Error {
    switch error {
    case let e as TrainingError: ValidationError(e.description)
    case let e as ModelsError: ValidationError(e.description)
    case let e as DatasetError: ValidationError(e.description)
    case let e as GrammarError: ValidationError(e.description)
    default: error
    }
}

/// Runs `body`, its LimRank errors turned into `ValidationError`s.
func validationErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw validationError(error) }
}

func validationErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw validationError(error) }
}
