import ArgumentParser

/// `--format text|json`, shared by the commands that print either
/// (`eval` prints a table instead of text: `EvalFormat`).
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}
