import Foundation
import Testing
import TestSupport
import Training

/// A directory for one test's files, removed when the test ends (`defer { scratch.remove() }`).
struct ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A fresh subdirectory path (not created: `limrank train` creates its --out).
    func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    func file(_ name: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// `limrank train cross-encoder` as a subprocess on the tiny model:
/// kill -9 mid-run and --resume, bad input messages (LoRA: LoRATrainCLITests).
@Suite(.serialized) struct TrainCLITests {
    /// The built `limrank` beside the test bundle.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("limrank")
    }

    static var trainingFixtures: URL { Assets.repoRoot.appendingPathComponent("Tests/TrainingTests/Fixtures") }
    static var tiny: URL { trainingFixtures.appendingPathComponent("tiny-bert-train") }
    /// 14 labelled pairs in the tiny vocabulary (the Training tests' own).
    static var pairs: String {
        get throws { try String(contentsOf: trainingFixtures.appendingPathComponent("tiny-pairs.jsonl"), encoding: .utf8) }
    }

    struct Result {
        var status: Int32
        var stderr: String
    }

    static func start(_ arguments: [String], in scratch: ScratchDirectory) throws -> (Process, URL) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let errors = scratch.path("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    static func run(_ arguments: [String], in scratch: ScratchDirectory) throws -> Result {
        let (process, errors) = try start(arguments, in: scratch)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stderr: (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }


    static func common(_ data: URL, out: URL) -> [String] {
        ["train", "cross-encoder", "--data", data.path, "--model", tiny.path, "--out", out.path,
         "--epochs", "3", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3", "--checkpoint-every", "2",
         "--validation-fraction", "0.15", "--seed", "5", "--max-seq", "64"]
    }

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the limrank product first (swift build --build-tests)")
    }

    @Test func killNineThenResumeGivesTheSameModel() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("pairs.jsonl", try Self.pairs)
        let clean = scratch.path("clean"), killed = scratch.path("killed")
        let plain = try Self.run(Self.common(data, out: clean), in: scratch)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("9/9"), "progress line: \(plain.stderr)")
        let curve = try String(contentsOf: clean.appendingPathComponent("loss_curve.svg"), encoding: .utf8)
        #expect(LossCurvePlotTests.pointCounts(curve).first == 9, "one point per optimizer step: \(curve.prefix(400))")
        // 250 ms per step: the kill lands mid-run even on a loaded machine.
        let (process, _) = try Self.start(Self.common(data, out: killed) + ["--step-delay-ms", "250"], in: scratch)
        let checkpoints = killed.appendingPathComponent("checkpoints")
        let deadline = Date().addingTimeInterval(120)
        while TrainingCheckpoint.latest(in: checkpoints) == nil, process.isRunning, Date() < deadline {
            usleep(20_000)
        }
        #expect(process.isRunning, "the run finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("model.safetensors").path))
        // Without --resume the leftover checkpoints are refused, not overwritten.
        let refused = try Self.run(Self.common(data, out: killed), in: scratch)
        #expect(refused.status != 0 && refused.stderr.contains("--resume"), "\(refused.stderr)")
        let resumed = try Self.run(Self.common(data, out: killed) + ["--resume"], in: scratch)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from"), "\(resumed.stderr)")
        let a = try Data(contentsOf: clean.appendingPathComponent("model.safetensors"))
        let b = try Data(contentsOf: killed.appendingPathComponent("model.safetensors"))
        #expect(a == b, "weights after kill -9 + resume differ from the uninterrupted run")
    }

    /// `--method` is the older spelling of the subcommand: the same run.
    @Test func methodFlagIsTheSubcommand() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("pairs.jsonl", try Self.pairs)
        let a = scratch.path("a"), b = scratch.path("b")
        let short = ["--max-steps", "2", "--checkpoint-every", "0"]
        let sub = try Self.run(Self.common(data, out: a) + short, in: scratch)
        var flag = Self.common(data, out: b) + short
        flag.replaceSubrange(1...1, with: ["--method", "cross-encoder"])
        let old = try Self.run(flag, in: scratch)
        #expect(sub.status == 0 && old.status == 0, "\(sub.stderr)\n\(old.stderr)")
        #expect(try Data(contentsOf: a.appendingPathComponent("model.safetensors")) == Data(contentsOf: b.appendingPathComponent("model.safetensors")))
        let none = try Self.run(["train", "--data", data.path, "--out", scratch.path("c").path], in: scratch)
        #expect(none.status != 0 && none.stderr.contains("cross-encoder|lora"), "\(none.stderr)")
    }

    @Test func badInputsGiveFileLineErrors() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let out = scratch.path("out")
        let bad = try scratch.file("bad.jsonl", "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n{\"query\":\"q\",\"passage\":\"p\",\"label\":\"yes\"}\n")
        let r = try Self.run(Self.common(bad, out: out), in: scratch)
        #expect(r.status != 0)
        #expect(r.stderr.contains("\(bad.path):2: label \"yes\" is neither true nor false"), "\(r.stderr)")
        let empty = try scratch.file("empty.jsonl", "\n")
        let e = try Self.run(Self.common(empty, out: out), in: scratch)
        #expect(e.status != 0 && e.stderr.contains("no usable training example"), "\(e.stderr)")
        let long = try scratch.file("long.jsonl", "{\"query\":\"heat\",\"passage\":\"\(String(repeating: "flow ", count: 80))\",\"label\":true}\n"
                                     + "{\"query\":\"air\",\"passage\":\"air\",\"label\":false}\n")
        let l = try Self.run(Self.common(long, out: out) + ["--max-steps", "1", "--validation-fraction", "0"], in: scratch)
        #expect(l.status == 0, "\(l.stderr)")
        #expect(l.stderr.contains("passages were truncated (\(long.path):1)"), "\(l.stderr)")
    }
}
