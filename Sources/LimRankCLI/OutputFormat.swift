import ArgumentParser

/// `--format text|json`, the one output-format option of every command that
/// prints either: `text` is for people (a table where the output is one,
/// as in `eval` and `compare`), `json` for programs. `table`, what `eval`
/// called its text form before the formats were one option, is still read.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json

    init?(argument: String) {
        self.init(rawValue: argument == "table" ? "text" : argument)
    }
}
