import Foundation
import Testing
@testable import Training

/// `limrank train --method cross-encoder` as a subprocess on the tiny model:
/// kill -9 mid-run and --resume, bad input messages (LoRA: LoRATrainCLITests).
@Suite(.serialized) struct TrainCLITests {
    static var binary: URL {
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("limrank")
    }

    struct Result {
        var status: Int32
        var stderr: String
    }

    static func start(_ arguments: [String]) throws -> (Process, URL) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let errors = CrossEncoderTrainerTests.temporaryDirectory().appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    static func run(_ arguments: [String]) throws -> Result {
        let (process, errors) = try start(arguments)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stderr: (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    static func dataFile(_ text: String = CrossEncoderTrainerTests.pairsJSONL) throws -> URL {
        let url = CrossEncoderTrainerTests.temporaryDirectory().appendingPathComponent("pairs.jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }

    static func common(_ data: URL, out: URL) -> [String] {
        ["train", "--method", "cross-encoder", "--data", data.path, "--model", CrossEncoderTrainerTests.tiny.path, "--out", out.path,
         "--epochs", "3", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3", "--checkpoint-every", "2",
         "--validation-fraction", "0.15", "--seed", "5", "--max-seq", "64"]
    }

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the limrank product first (swift build --build-tests)")
    }

    @Test func killNineThenResumeGivesTheSameModel() throws {
        let data = try Self.dataFile()
        let clean = CrossEncoderTrainerTests.temporaryDirectory(), killed = CrossEncoderTrainerTests.temporaryDirectory()
        let plain = try Self.run(Self.common(data, out: clean))
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("9/9"), "progress line: \(plain.stderr)")
        // 250 ms per step: the kill lands mid-run even on a loaded machine.
        let (process, _) = try Self.start(Self.common(data, out: killed) + ["--step-delay-ms", "250"])
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
        let refused = try Self.run(Self.common(data, out: killed))
        #expect(refused.status != 0 && refused.stderr.contains("--resume"), "\(refused.stderr)")
        let resumed = try Self.run(Self.common(data, out: killed) + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from"), "\(resumed.stderr)")
        let a = try Data(contentsOf: clean.appendingPathComponent("model.safetensors"))
        let b = try Data(contentsOf: killed.appendingPathComponent("model.safetensors"))
        #expect(a == b, "weights after kill -9 + resume differ from the uninterrupted run")
    }

    @Test func badInputsGiveFileLineErrors() throws {
        let out = CrossEncoderTrainerTests.temporaryDirectory()
        let bad = try Self.dataFile("{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n{\"query\":\"q\",\"passage\":\"p\",\"label\":\"yes\"}\n")
        let r = try Self.run(Self.common(bad, out: out))
        #expect(r.status != 0)
        #expect(r.stderr.contains("\(bad.path):2: label \"yes\" is neither true nor false"), "\(r.stderr)")
        let empty = try Self.dataFile("\n")
        let e = try Self.run(Self.common(empty, out: out))
        #expect(e.status != 0 && e.stderr.contains("no usable training example"), "\(e.stderr)")
        let long = try Self.dataFile("{\"query\":\"heat\",\"passage\":\"\(String(repeating: "flow ", count: 80))\",\"label\":true}\n"
                                     + "{\"query\":\"air\",\"passage\":\"air\",\"label\":false}\n")
        let l = try Self.run(Self.common(long, out: out) + ["--max-steps", "1", "--validation-fraction", "0"])
        #expect(l.status == 0, "\(l.stderr)")
        #expect(l.stderr.contains("passages were truncated (\(long.path):1)"), "\(l.stderr)")
    }
}
