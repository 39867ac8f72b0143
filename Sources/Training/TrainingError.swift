import Foundation

/// Everything that can go wrong preparing or running a training job. Each case
/// says what and where: the data file and line, the flag, the checkpoint.
public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A malformed or unusable line of a training data file (1-based line).
    case invalidData(file: String, line: Int, reason: String)
    /// A data set with no usable example.
    case emptyDataSet(file: String)
    /// A hyper-parameter or option out of range.
    case invalidParameter(name: String, reason: String)
    /// A checkpoint that cannot be read or does not match the run resuming it.
    case invalidCheckpoint(path: String, reason: String)
    /// A model this trainer cannot train (architecture, missing weights).
    case unsupportedModel(String)

    public var description: String {
        switch self {
        case let .invalidData(file, line, reason): return "\(file):\(line): \(reason)"
        case let .emptyDataSet(file): return "\(file): no usable training example"
        case let .invalidParameter(name, reason): return "invalid \(name): \(reason)"
        case let .invalidCheckpoint(path, reason): return "checkpoint \(path): \(reason)"
        case let .unsupportedModel(reason): return "cannot train this model: \(reason)"
        }
    }
}
