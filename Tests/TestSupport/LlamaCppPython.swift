import Foundation

/// llama-cpp-python (`pip install 'llama-cpp-python[server]'`, compiled on
/// the machine), the peer behind `Scripts/llamacpp_server.sh`.
///
/// Unlike the assets and the SDK packages, `LIMRANK_REQUIRE_ASSETS` does not
/// force these tests on: `Scripts/test.sh` installs the package best effort
/// (a source build that may fail or produce a library this CPU cannot run),
/// so a missing or unusable package is a counted skip, never a failed run.
/// Usable means more than importable: the probe loads SmolLM2 and evaluates
/// two tokens in a child process, so a build with instructions this CPU
/// lacks dies there (SIGILL) instead of in the test.
public enum LlamaCppPython {
    /// For `@Test(.enabled(if: LlamaCppPython.enabled()))`; each `false` is one counted skip.
    public static func enabled() -> Bool {
        guard let reason = probeFailure else { return true }
        Skips.record(reason)
        return false
    }

    /// Why the package cannot be used here, or nil; probed once per process.
    static let probeFailure: String? = {
        let model = Assets.smollm2GGUF.path
        let code = """
            import os, sys
            import llama_cpp.server
            from llama_cpp import Llama
            path = sys.argv[1]
            if os.path.exists(path):
                m = Llama(model_path=path, n_ctx=64, n_threads=1, verbose=False)
                m.eval(m.tokenize(b"probe"))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", code, model]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "python3 (not found)" }
        process.waitUntilExit()
        let install = "CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DGGML_AVX512=ON\" pip install 'llama-cpp-python[server]'"
        switch (process.terminationReason, process.terminationStatus) {
        case (.exit, 0): return nil
        case (.uncaughtSignal, let signal):
            return "a llama-cpp-python that runs on this CPU (the installed one died of signal \(signal) on SmolLM2; rebuild it: \(install))"
        default:
            return "python3 package llama_cpp with its server (\(install))"
        }
    }()
}
