import Foundation
import Testing
@testable import Synthesis

/// Runs the real `limrank` binary as a subprocess, on the scripted test backend.
@Suite struct SynthesizeCLITests {
    static var binary: URL {
        // Test resources sit beside the built products.
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("limrank")
    }

    struct Result {
        var status: Int32
        var reason: Process.TerminationReason
        var stderr: String
    }

    func start(_ arguments: [String], stdout: URL? = nil) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: stdout)
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        try process.run()
        return (process, errors)
    }

    func run(_ arguments: [String]) throws -> Result {
        let (process, errors) = try start(arguments)
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, reason: process.terminationReason, stderr: String(decoding: data, as: UTF8.self))
    }

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("synth-cli-\(UUID().uuidString)")
    }

    func lines(_ url: URL) -> Int {
        guard let data = try? Data(contentsOf: url) else { return 0 }
        return data.split(separator: 0x0A).count
    }

    func content(_ dir: URL) throws -> [String] {
        try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl")).map {
            "\($0.id)|\($0.query)|\($0.instruction)|\($0.positives)|\($0.negatives)|\($0.droppedNegatives)|\($0.usage)"
        }
    }

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the limrank product first (swift build --build-tests)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: SynthesizeCLITests.binary.path)))
    func killNineMidRunThenResume() throws {
        let killed = temporaryDirectory(), clean = temporaryDirectory()
        let common = ["synthesize", "--target", "10", "--backend", "scripted", "--seed", "5", "--concurrency", "3"]
        // Each scripted call takes 200 ms, so ten examples take many seconds
        // and the kill lands mid-run even on a loaded machine.
        let (process, errors) = try start(common + ["--out", killed.path, "--scripted-delay-ms", "200"])
        // Drain stderr on a thread of its own so the child never blocks on a
        // full pipe. Neither this nor the polling below may wait on the Swift
        // concurrency pool: the suite's other tests block its (two) threads
        // while their subprocesses run, and a sleeping task then woke only
        // after this run had finished.
        let drained = DispatchSemaphore(value: 0)
        Thread {
            _ = errors.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }.start()
        let pool = killed.appendingPathComponent("pool.jsonl")
        var waited = 0
        while lines(pool) < 2 && process.isRunning && waited < 1200 {
            usleep(50_000)
            waited += 1
        }
        #expect(process.isRunning, "the run finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        drained.wait()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("examples.jsonl").path))
        let store = try SynthesisStore(directory: killed)
        let before = try #require(try store.loadCheckpoint())
        #expect(!before.completed.isEmpty)

        let resumed = try run(common + ["--out", killed.path, "--concurrency", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming"))
        let fresh = try run(common + ["--out", clean.path])
        #expect(fresh.status == 0, "\(fresh.stderr)")

        #expect(try content(killed) == content(clean))
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: killed.appendingPathComponent("examples.jsonl"))
        #expect(examples.count == 10)
        #expect(Set(examples.map(\.id)).count == examples.count)
        let pooled = try SynthesisStore.readJSONLines(SyntheticExample.self, from: pool).map(\.index)
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: killed.appendingPathComponent("rejected.jsonl"))
            .filter { $0.stage != "dedup" && $0.stage != "selection" }.map(\.index)
        #expect(pooled.count == Set(pooled).count)
        #expect(rejected.count == Set(rejected).count)
        #expect(Set(pooled).isDisjoint(with: rejected))
        #expect(Set(before.completed).isSubset(of: Set(pooled + rejected)))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: SynthesizeCLITests.binary.path)))
    func badInputsExitNonZeroWithClearErrors() throws {
        let dir = temporaryDirectory()
        let native = try run(["synthesize", "--out", dir.path, "--target", "2", "--backend", "native", "--model", "/nonexistent/model.gguf"])
        #expect(native.status != 0 && native.stderr.contains("/nonexistent/model.gguf"), "\(native.stderr)")
        let openai = try run(["synthesize", "--out", dir.path, "--target", "2", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
        // Nothing listens on port 9: the run must stop with the endpoint named
        // after the retry budget, not hang on connection re-dials.
        #expect(openai.status != 0 && openai.stderr.contains("127.0.0.1:9"), "\(openai.stderr)")
        let none = try run(["synthesize", "--out", dir.path, "--target", "2"])
        #expect(none.status != 0 && none.stderr.contains("choose a backend"))
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("synth-bad-\(UUID().uuidString).json")
        try Data(#"{"target": 3, "judge_samples": "three"}"#.utf8).write(to: config)
        let bad = try run(["synthesize", "--config", config.path, "--out", dir.path, "--backend", "scripted"])
        #expect(bad.status != 0 && bad.stderr.contains("judge_samples"))
        let missing = try run(["synthesize", "--config", "/nonexistent.json", "--out", dir.path])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent.json"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: SynthesizeCLITests.binary.path)))
    func synthesizeThenExport() throws {
        let dir = temporaryDirectory()
        let made = try run(["synthesize", "--out", dir.path, "--target", "3", "--backend", "scripted", "--seed", "2"])
        #expect(made.status == 0, "\(made.stderr)")
        let stats = try JSONDecoder().decode(SynthesisStats.self, from: Data(contentsOf: dir.appendingPathComponent("stats.json")))
        #expect(stats.selected == 3)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl"))
        let passages = examples.reduce(0) { $0 + $1.positives.count + $1.negatives.count }
        let sharegpt = dir.appendingPathComponent("train.json")
        let exported = try run(["synthesize", "export", "--in", dir.path, "--format", "sharegpt", "--out", sharegpt.path])
        #expect(exported.status == 0, "\(exported.stderr)")
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: sharegpt)) as? [[String: Any]]
        #expect(records?.count == passages)
        let beir = dir.appendingPathComponent("beir")
        #expect(try run(["synthesize", "export", "--in", dir.path, "--format", "beir", "--out", beir.path]).status == 0)
        #expect(lines(beir.appendingPathComponent("corpus.jsonl")) == passages)
        #expect(lines(beir.appendingPathComponent("qrels/test.tsv")) == passages + 1)
        // The exported collection is one `limrank eval` reads.
        let evalOut = dir.appendingPathComponent("eval.json")
        let (evaluator, evalErrors) = try start(["eval", "--dataset", "beir", "--data", beir.path, "--retriever", "bm25", "--format", "json"], stdout: evalOut)
        _ = evalErrors.fileHandleForReading.readDataToEndOfFile()
        evaluator.waitUntilExit()
        #expect(evaluator.terminationStatus == 0)
        let evaluation = try JSONSerialization.jsonObject(with: Data(contentsOf: evalOut)) as? [String: Any]
        #expect(evaluation?["queries"] as? Int == 3)
        let wrong = try run(["synthesize", "export", "--in", dir.path, "--format", "csv", "--out", sharegpt.path])
        #expect(wrong.status != 0 && wrong.stderr.contains("--format"))
        let prompts = dir.appendingPathComponent("prompts")
        #expect(try run(["synthesize", "prompts", "--out", prompts.path]).status == 0)
        #expect(try SynthesisPrompts.load(overridesIn: prompts) == SynthesisPrompts.builtIn)
    }
}
