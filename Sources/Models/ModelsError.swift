import Foundation

/// Everything that can go wrong loading or running a model in this target.
/// Each case says what and where: the file, the config key, the tensor name.
public enum ModelsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A model name that is neither a short name (`minilm`, `smollm2`) nor an existing path.
    case unknownModel(name: String, known: [String], cache: String)
    /// A required file of a model directory is absent.
    case missingFile(path: String)
    /// A config file could not be read or decoded.
    case invalidConfiguration(file: String, reason: String)
    /// `model_type` / `general.architecture` names an architecture with no registered constructor.
    case unknownArchitecture(name: String, file: String, supported: [String])
    /// A config value this implementation does not support (e.g. `hidden_act`).
    case unsupported(key: String, value: String, file: String)
    /// A weight the architecture needs is not in the checkpoint.
    case missingTensor(name: String, file: String)
    /// A weight has a different shape than the config implies.
    case shapeMismatch(tensor: String, expected: [Int], actual: [Int], file: String)
    /// Bad caller input (empty batch, ragged rows, token id out of range, …).
    case invalidInput(String)
    /// A sequence is longer than the model's position table.
    case sequenceTooLong(length: Int, maximum: Int)
    /// `limrank models fetch` failed (pip, unpacking).
    case fetchFailed(package: String, reason: String)
    /// The prompt plus the tokens asked for do not fit the model's context.
    case generationTooLong(promptTokens: Int, maxTokens: Int, context: Int)
    /// The KV cache a generation needs is larger than the memory available.
    case cacheTooLarge(positions: Int, bytes: Int, available: Int)

    public var description: String {
        switch self {
        case let .unknownModel(name, known, cache):
            return "unknown model '\(name)': not a short name (\(known.joined(separator: ", "))) "
                + "nor an existing safetensors directory or .gguf file (model cache: \(cache); "
                + "run `limrank models fetch`)"
        case let .missingFile(path):
            return "missing model file: \(path)"
        case let .invalidConfiguration(file, reason):
            return "invalid configuration \(file): \(reason)"
        case let .unknownArchitecture(name, file, supported):
            return "unknown architecture '\(name)' in \(file); supported: \(supported.joined(separator: ", "))"
        case let .unsupported(key, value, file):
            return "unsupported \(key) = '\(value)' in \(file)"
        case let .missingTensor(name, file):
            return "tensor '\(name)' not found in \(file)"
        case let .shapeMismatch(tensor, expected, actual, file):
            return "tensor '\(tensor)' in \(file) has shape \(actual), expected \(expected)"
        case let .invalidInput(reason):
            return "invalid input: \(reason)"
        case let .sequenceTooLong(length, maximum):
            return "sequence of \(length) tokens is longer than the model's maximum of \(maximum)"
        case let .fetchFailed(package, reason):
            return "fetching \(package) failed: \(reason)"
        case let .generationTooLong(prompt, maxTokens, context):
            return "the prompt (\(prompt) tokens) plus max tokens \(maxTokens) is \(prompt + maxTokens) tokens, "
                + "past the model's context of \(context): ask for at most \(context - prompt) tokens or shorten the prompt"
        case let .cacheTooLarge(positions, bytes, available):
            let gib = { (b: Int) in String(format: "%.2f GiB", Double(b) / 1_073_741_824) }
            return "a KV cache for \(positions) positions needs \(gib(bytes)) but only \(gib(available)) of memory is available: "
                + "lower max tokens, shorten the prompt or use an f16 KV cache"
        }
    }
}
