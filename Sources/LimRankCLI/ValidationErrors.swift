import ArgumentParser
import Datasets
import Grammar
import Models
import Training

/// The one mapping from LimRank's error enums to ArgumentParser's
/// `ValidationError` (the message on stderr and exit status 64): bad input
/// reads as a usage error naming its file, line or field, not a crash.
func validationErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as TrainingError {
        throw ValidationError(error.description)
    } catch let error as ModelsError {
        throw ValidationError(error.description)
    } catch let error as DatasetError {
        throw ValidationError(error.description)
    } catch let error as GrammarError {
        throw ValidationError(error.description)
    }
}
