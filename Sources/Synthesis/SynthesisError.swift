/// Everything that can go wrong while synthesising or exporting, with what and where.
public enum SynthesisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A config file that is missing, not JSON, or has a bad field.
    case invalidConfig(file: String, field: String, reason: String)
    case invalidParameter(name: String, reason: String)
    /// A prompt file that cannot be used (unknown id, missing placeholder, bad header).
    case invalidPrompt(file: String, reason: String)
    /// A seed file (personas, domains) that cannot be used.
    case invalidSeeds(file: String, line: Int, reason: String)
    /// The model's answer could not be parsed after every re-ask.
    case malformedOutput(stage: String, attempts: Int, reason: String)
    /// The backend kept failing after every retry: the run stops, keeping what it has.
    case backend(model: String, stage: String, attempts: Int, reason: String)
    /// Too many items in a row got unparseable answers: the model is not usable.
    case modelNeverParseable(model: String, consecutiveItems: Int, lastReason: String)
    case backendUnavailable(name: String, reason: String)
    case writeFailed(path: String, reason: String)
    case readFailed(path: String, reason: String)
    /// An output file that does not decode: file and 1-based line.
    case corruptRecord(file: String, line: Int, reason: String)
    /// The output directory holds a run made with different settings.
    case checkpointMismatch(path: String, field: String, stored: String, requested: String)

    public var description: String {
        switch self {
        case .invalidConfig(let file, let field, let reason):
            return field.isEmpty ? "\(file): \(reason)" : "\(file): field \"\(field)\": \(reason)"
        case .invalidParameter(let name, let reason):
            return "invalid \(name): \(reason)"
        case .invalidPrompt(let file, let reason):
            return "prompt \(file): \(reason)"
        case .invalidSeeds(let file, let line, let reason):
            return line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)"
        case .malformedOutput(let stage, let attempts, let reason):
            return "stage \(stage): no usable answer after \(attempts) attempt(s): \(reason)"
        case .backend(let model, let stage, let attempts, let reason):
            return "model \(model) failed in stage \(stage) after \(attempts) attempt(s): \(reason)"
        case .modelNeverParseable(let model, let n, let last):
            return "model \(model) gave no parseable output for \(n) items in a row (last: \(last)); check the backend and the prompts"
        case .backendUnavailable(let name, let reason):
            return "backend \(name) not available: \(reason)"
        case .writeFailed(let path, let reason):
            return "\(path): cannot write: \(reason)"
        case .readFailed(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .corruptRecord(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .checkpointMismatch(let path, let field, let stored, let requested):
            return "\(path) holds a run with \(field) = \(stored), but this run asks for \(requested); use another --out directory or the same settings"
        }
    }
}
