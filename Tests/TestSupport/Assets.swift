import Foundation

/// Locates the large assets tests may use: the Cranfield data and the shipped
/// models. They are never committed; `Scripts/setup.sh` puts them in place.
///
/// A test that needs one is enabled when the asset exists. With
/// `LIMRANK_REQUIRE_ASSETS=1` (set by `Scripts/test.sh`, and so in CI) it is
/// always enabled, so a missing asset fails loudly instead of skipping.
public enum Assets {
    public static var repoRoot: URL {
        // .../Tests/TestSupport/Assets.swift -> repo root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    public static var dataDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["LIMRANK_DATA"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.appendingPathComponent("data")
    }

    public static var modelsDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["LIMRANK_MODELS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/limrank/models")
    }

    public static var cranfield: URL { dataDirectory.appendingPathComponent("cranfield") }
    public static var minilm: URL { modelsDirectory.appendingPathComponent("minilm") }
    public static var smollm2GGUF: URL {
        modelsDirectory.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    public static var required: Bool {
        ProcessInfo.processInfo.environment["LIMRANK_REQUIRE_ASSETS"] == "1"
    }

    /// For `@Test(.enabled(if: Assets.enabled(Assets.cranfield)))`.
    public static func enabled(_ url: URL) -> Bool {
        required || FileManager.default.fileExists(atPath: url.path)
    }
}
