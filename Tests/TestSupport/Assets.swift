import Foundation
import Synchronization

/// Locates the large assets tests may use: the Cranfield data and the shipped
/// models. They are never committed; `Scripts/setup.sh` puts them in place.
///
/// A test that needs one is enabled when the asset exists. With
/// `LIMRANK_REQUIRE_ASSETS=1` (or `true`, `yes`; set by `Scripts/test.sh`,
/// and so in CI) it is always enabled, so a missing asset fails loudly
/// instead of skipping. Skips are never silent: each is counted, and when
/// the test process exits it prints how many real-asset tests were skipped
/// and which missing files caused it.
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

    /// Gemma 3 270M base (Q4_K_M, SentencePiece vocabulary), assembled by setup / `models fetch`.
    public static var gemma3GGUF: URL {
        modelsDirectory.appendingPathComponent("gemma3/gemma-3-270m-q4_k_m.gguf")
    }

    /// `LIMRANK_REQUIRE_ASSETS` is 1, true or yes (any case).
    public static var required: Bool {
        let value = ProcessInfo.processInfo.environment["LIMRANK_REQUIRE_ASSETS"]?.lowercased() ?? ""
        return ["1", "true", "yes"].contains(value)
    }

    /// For `@Test(.enabled(if: Assets.enabled(Assets.cranfield)))`. Swift
    /// Testing evaluates it once per test, when it plans the test; a `false`
    /// is recorded as one skipped test.
    public static func enabled(_ url: URL) -> Bool {
        if required || FileManager.default.fileExists(atPath: url.path) { return true }
        Skips.record(url.path)
        return false
    }
}

/// Tests that drive the server with Python client libraries (the official
/// `openai` and `cohere` SDKs) run when `python3` can import them, under the
/// same rule as assets: `LIMRANK_REQUIRE_ASSETS=1` always enables them
/// (`Scripts/test.sh` installs the packages), and a skip is counted and
/// reported at exit with the missing package as its reason.
///
/// `installedBySetup: false` is for packages `Scripts/test.sh` does not
/// install (sentence-transformers pulls in PyTorch, gigabytes): those tests
/// run where the package is importable and are a counted skip elsewhere,
/// `LIMRANK_REQUIRE_ASSETS` or not.
public enum PythonPackages {
    public static func enabled(_ modules: [String], installedBySetup: Bool = true) -> Bool {
        if Assets.required, installedBySetup { return true }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import " + modules.joined(separator: ", ")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if (try? process.run()) != nil {
            process.waitUntilExit()
            if process.terminationStatus == 0 { return true }
        }
        Skips.record("python3 packages " + modules.joined(separator: ", ") + " (pip install " + modules.joined(separator: " ") + ")")
        return false
    }
}

/// Real-asset tests skipped in this process, by missing path; reported at exit.
enum Skips {
    static let counts = Mutex<[String: Int]>([:])
    /// Registers the exit report the first time a skip is recorded.
    static let report: Void = {
        atexit {
            let counts = Skips.counts.withLock { $0 }
            let total = counts.values.reduce(0, +)
            guard total > 0 else { return }
            var message = "\(total) real-asset test\(total == 1 ? " was" : "s were") SKIPPED because assets are missing:\n"
            for (path, count) in counts.sorted(by: { $0.key < $1.key }) {
                message += "  \(count) need \(path)\n"
            }
            message += "Run Scripts/setup.sh to fetch them; set LIMRANK_REQUIRE_ASSETS=1 to make a missing asset fail.\n"
            FileHandle.standardError.write(Data(message.utf8))
        }
    }()

    static func record(_ path: String) {
        _ = report
        counts.withLock { $0[path, default: 0] += 1 }
    }
}
