import Foundation
import Testing
import TestSupport
import Models
import Training

/// `limrank train lora` and `limrank train merge` as subprocesses on
/// the tiny Llama fixture (with its byte-level tokenizer; a copy whose
/// config allows 1024 positions, since LimRank's prompt alone is ~130 bytes):
/// kill -9 mid-run and --resume, file:line errors, passage truncation, merge.
@Suite(.serialized) struct LoRATrainCLITests {
    /// |logit − merged-in-memory logit| allowed for the merged checkpoint (f32 both).
    static let mergeTolerance: Float = 1e-4

    static func base(in scratch: ScratchDirectory) throws -> URL {
        let dir = scratch.path("base")
        try FileManager.default.copyItem(at: TrainCLITests.trainingFixtures.appendingPathComponent("lora/tiny-llama/base"), to: dir)
        let configURL = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["max_position_embeddings"] = 1024
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return dir
    }

    static let pairs = (0..<8).map { i in
        "{\"query\":\"wing lift \(i)\",\"passage\":\"pressure over an aerofoil, case \(i)\",\"label\":\(i % 2 == 0)}"
    }.joined(separator: "\n") + "\n"

    static func common(_ data: URL, base: URL, out: URL) -> [String] {
        ["train", "lora", "--data", data.path, "--model", base.path, "--out", out.path,
         "--max-steps", "6", "--batch-size", "1", "--grad-accum", "2", "--lr", "1e-2", "--rank", "4", "--alpha", "8",
         "--checkpoint-every", "2", "--validation-fraction", "0.2", "--seed", "3", "--max-seq", "400"]
    }

    @Test func killNineThenResumeGivesTheSameAdapter() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let base = try Self.base(in: scratch)
        let data = try scratch.file("pairs.jsonl", Self.pairs)
        let clean = scratch.path("clean"), killed = scratch.path("killed")
        let plain = try TrainCLITests.run(Self.common(data, base: base, out: clean), in: scratch)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("6/6") && plain.stderr.contains("tok/s"), "progress line: \(plain.stderr)")
        #expect(plain.stderr.contains("validation loss"), "\(plain.stderr)")
        let curve = try String(contentsOf: clean.appendingPathComponent("loss_curve.svg"), encoding: .utf8)
        #expect(LossCurvePlotTests.pointCounts(curve).first == 6 && curve.contains("validation loss"), "\(curve.prefix(400))")
        let (process, _) = try TrainCLITests.start(Self.common(data, base: base, out: killed) + ["--step-delay-ms", "300"], in: scratch)
        let checkpoints = killed.appendingPathComponent("checkpoints")
        let deadline = Date().addingTimeInterval(120)
        while TrainingCheckpoint.latest(in: checkpoints) == nil, process.isRunning, Date() < deadline { usleep(20_000) }
        #expect(process.isRunning, "the run finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent(LoRAAdapter.weightsFileName).path))
        let resumed = try TrainCLITests.run(Self.common(data, base: base, out: killed) + ["--resume"], in: scratch)
        #expect(resumed.status == 0 && resumed.stderr.contains("resumed from"), "\(resumed.stderr)")
        let model = try LlamaModel(directory: base)
        let a = try LoRAAdapter(directory: clean, model: model.configuration)
        let b = try LoRAAdapter(directory: killed, model: model.configuration)
        #expect(a.pairs == b.pairs, "adapter after kill -9 + resume differs from the uninterrupted run")
        #expect(FileManager.default.fileExists(atPath: clean.appendingPathComponent("limrank.json").path))

        // eval --adapter: the adapter's limrank.json decides the pointwise format (the base declares none).
        let cranfield = Assets.repoRoot.appendingPathComponent("Tests/DatasetsTests/Fixtures/cranfield")
        let e = try TrainCLITests.run(["eval", "--dataset", "cranfield", "--data", cranfield.path, "--retriever", "bm25",
                                       "--reranker", "pointwise", "--model", base.path, "--adapter", clean.path,
                                       "--reasoning-tokens", "0", "--depth", "2", "--no-cache", "--format", "json"], in: scratch)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stderr.contains("pointwise prompt format: limrank (declared by the model)"), "\(e.stderr)")

        // merge: the written checkpoint gives the logits of the adapter merged in memory.
        let merged = scratch.path("merged")
        let m = try TrainCLITests.run(["train", "merge", "--model", base.path, "--adapter", clean.path, "--out", merged.path], in: scratch)
        #expect(m.status == 0, "\(m.stderr)")
        let ids = Array(40..<90)
        let fromDisk = try LlamaModel(directory: merged).forward(ids, logits: .all).logits
        let inMemory = try model.merging(a).forward(ids, logits: .all).logits
        let plainLogits = try model.forward(ids, logits: .all).logits
        #expect(fromDisk.count == inMemory.count && plainLogits.count == inMemory.count && !inMemory.isEmpty)
        #expect(zip(fromDisk, inMemory).map { abs($0 - $1) }.max()! <= Self.mergeTolerance)
        #expect(zip(plainLogits, inMemory).map { abs($0 - $1) }.max()! > 100 * Self.mergeTolerance, "training did not change the model")
    }

    /// `limrank synthesize`'s examples.jsonl trains as it is: its records carry
    /// an `instruction` (FollowIR's) but are not an Alpaca export.
    @Test func synthesizedExamplesTrainAsPairs() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let base = try Self.base(in: scratch)
        let examples = try scratch.file("examples.jsonl", (0..<3).map { i in
            "{\"query\":\"wing lift \(i)\",\"instruction\":\"\",\"positives\":[{\"text\":\"lift of a wing \(i)\"}],"
                + "\"negatives\":[{\"text\":\"heat flux \(i)\"},{\"text\":\"shell buckling \(i)\"}]}"
        }.joined(separator: "\n") + "\n")
        let out = scratch.path("out")
        let r = try TrainCLITests.run(Self.common(examples, base: base, out: out) + ["--max-steps", "2", "--validation-fraction", "0"], in: scratch)
        #expect(r.status == 0, "\(r.stderr)")
        // 3 examples x (1 positive + 2 negatives) = 9 pairs, each one SFT sequence.
        #expect(r.stderr.contains("read 9 examples from"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(LoRAAdapter.weightsFileName).path))
    }

    @Test func badInputsGiveFileLineErrors() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let base = try Self.base(in: scratch)
        let out = scratch.path("out")
        let label = try scratch.file("label.jsonl", "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n{\"query\":\"q\",\"passage\":\"p\",\"label\":\"maybe\"}\n")
        let r = try TrainCLITests.run(Self.common(label, base: base, out: out), in: scratch)
        #expect(r.status != 0 && r.stderr.contains("\(label.path):2: label \"maybe\" is neither true nor false"), "\(r.stderr)")
        let malformed = try scratch.file("malformed.jsonl", "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n{\"query\": oops\n")
        let j = try TrainCLITests.run(Self.common(malformed, base: base, out: out), in: scratch)
        #expect(j.status != 0 && j.stderr.contains("\(malformed.path):2: not valid JSON"), "\(j.stderr)")
        let empty = try scratch.file("empty.jsonl", "\n")
        let e = try TrainCLITests.run(Self.common(empty, base: base, out: out), in: scratch)
        #expect(e.status != 0 && e.stderr.contains("no usable training example"), "\(e.stderr)")
        // An Alpaca export whose output does not end in a label.
        let export = scratch.path("alpaca.json")
        try Data(#"[{"instruction":"Query: q\nPassage: p\n<think>","input":"","output":"\nok\n</think> true"},{"instruction":"Query: q\nPassage: p\n<think>","input":"","output":"\nhm\n</think> maybe"}]"#.utf8).write(to: export)
        let x = try TrainCLITests.run(Self.common(export, base: base, out: out), in: scratch)
        #expect(x.status != 0 && x.stderr.contains("\(export.path):2: the target's label is neither true nor false"), "\(x.stderr)")
        // Too long: the passage is cut (and said so), never the answer.
        let long = try scratch.file("long.jsonl", "{\"query\":\"heat\",\"passage\":\"\(String(repeating: "flow ", count: 200))\",\"label\":true}\n"
                                              + "{\"query\":\"air\",\"passage\":\"air\",\"label\":false}\n")
        let l = try TrainCLITests.run(Self.common(long, base: base, out: scratch.path("long-out"))
                                      + ["--max-steps", "1", "--validation-fraction", "0", "--max-seq", "300"], in: scratch)
        #expect(l.status == 0, "\(l.stderr)")
        #expect(l.stderr.contains("\(long.path):1: passage truncated"), "\(l.stderr)")
    }
}
