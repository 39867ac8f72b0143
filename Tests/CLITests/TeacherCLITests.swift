import Foundation
import Testing
import TestSupport

/// `limrank teacher` as a subprocess: a reranker teacher (the tiny
/// cross-encoder) fused with BM25, BM25 over a collection whose queries are
/// garbage (only its documents are read), bad input, and the scored file
/// training a cross-encoder with --loss mse and margin-mse.
@Suite(.serialized) struct TeacherCLITests {
    typealias CLI = TrainCLITests

    /// Every passage's "score" of a scored file, in file order.
    static func scores(_ url: URL) throws -> [Double] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").flatMap { line -> [Double] in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let passages = (object["positives"] as? [[String: Any]] ?? []) + (object["negatives"] as? [[String: Any]] ?? [])
            if !passages.isEmpty {
                return try passages.map { try #require($0["score"] as? Double, "no score in \(line)") }
            }
            return [try #require(object["score"] as? Double, "no score in \(line)")]
        }
    }

    @Test func crossEncoderTeacherFusedWithBM25ThenDistillation() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("pairs.jsonl", try CLI.pairs)
        let scored = scratch.path("scored.jsonl")
        let plain = try CLI.run(["teacher", data.path, "--out", scored.path, "--reranker", "cross-encoder",
                                 "--model", CLI.tiny.path, "--no-cache"], in: scratch)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("teacher: "), "progress on stderr: \(plain.stderr)")
        let logits = try Self.scores(scored)
        #expect(logits.count == 14 && Set(logits).count > 7, "\(logits)")

        let fused = scratch.path("fused.jsonl")
        let r = try CLI.run(["teacher", data.path, "--out", fused.path, "--reranker", "cross-encoder", "--model", CLI.tiny.path,
                             "--no-cache", "--fuse", "interpolate:0.5"], in: scratch)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("distinct passages"), "says BM25 indexed the passages: \(r.stderr)")
        let f = try Self.scores(fused)
        #expect(f.count == 14 && f.allSatisfy { (0...1).contains($0) } && f != logits)

        for loss in ["mse", "margin-mse"] {
            let out = scratch.path("ce-\(loss)")
            let t = try CLI.run(["train", "cross-encoder", "--data", scored.path, "--model", CLI.tiny.path, "--out", out.path,
                                 "--loss", loss, "--max-steps", "2", "--batch-size", "2", "--max-seq", "64", "--validation-fraction", "0"], in: scratch)
            #expect(t.status == 0, "\(loss): \(t.stderr)")
            let summary = try String(contentsOf: out.appendingPathComponent("training_summary.json"), encoding: .utf8)
            #expect(summary.contains("\"loss\":\"\(loss)\"") || summary.contains("\"loss\" : \"\(loss)\""), "\(summary)")
        }
        // The unscored file cannot be distilled from: the error names file and line.
        let missing = try CLI.run(["train", "cross-encoder", "--data", data.path, "--model", CLI.tiny.path, "--out", scratch.path("x").path,
                                   "--loss", "mse", "--max-steps", "1"], in: scratch)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("\(data.path):1:") && missing.stderr.contains("score"), "\(missing.stderr)")
        let lora = try CLI.run(["train", "lora", "--data", scored.path, "--out", scratch.path("y").path, "--loss", "mse"], in: scratch)
        #expect(lora.status != 0 && lora.stderr.contains("--loss is for cross-encoder"), "\(lora.stderr)")
        // One --loss for every method, read as that method's losses.
        let wrong = try CLI.run(["train", "cross-encoder", "--data", scored.path, "--model", CLI.tiny.path, "--out", scratch.path("z").path,
                                 "--loss", "mnrl", "--max-steps", "1"], in: scratch)
        #expect(wrong.status != 0 && wrong.stderr.contains("--loss mnrl is not a cross-encoder loss; use one of: bce, mse, margin-mse"), "\(wrong.stderr)")
    }

    /// BM25 over a collection's documents: a Cranfield directory whose
    /// queries file is garbage and that has no qrels works all the same.
    @Test func bm25OverDocumentsNeverReadsTheQueries() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let collection = scratch.path("collection")
        try FileManager.default.createDirectory(at: collection, withIntermediateDirectories: true)
        let documents = [("1", "boundary layer", "the boundary layer on a flat plate"), ("2", "heat", "heat flows from high to low"),
                         ("3", "wing", "shock waves on a wing")]
        try documents.map { ".I \($0.0)\n.T\n\($0.1)\n.A\nsomeone\n.B\nj. test 1\n.W\n\($0.2)\n" }.joined()
            .write(to: collection.appendingPathComponent("cran.all.1400"), atomically: true, encoding: .utf8)
        try "\u{0}\u{1}not a SMART file {{{\n".write(to: collection.appendingPathComponent("cran.qry"), atomically: true, encoding: .utf8)
        let data = try scratch.file("examples.jsonl", """
            {"query":"boundary layer","positives":[{"text":"x","documentID":"1"}],"negatives":[{"text":"y","documentID":"3"}]}
            {"query":"heat flow","positives":[{"text":"z","documentID":"2"}],"negatives":[{"text":"w","documentID":"1"}]}

            """)
        let out = scratch.path("bm25.jsonl")
        let r = try CLI.run(["teacher", data.path, "--out", out.path, "--dataset", "cranfield", "--data", collection.path], in: scratch)
        #expect(r.status == 0, "\(r.stderr)")
        let s = try Self.scores(out)
        #expect(s.count == 4 && s[0] > 0 && s[1] == 0 && s[2] > 0 && s[3] == 0, "\(s)")
        #expect(r.stderr.contains("3 documents of cranfield"), "\(r.stderr)")

        // An unknown document names its line.
        let bad = try scratch.file("bad.jsonl", "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n{\"query\":\"q\",\"passage\":\"p\",\"label\":false,\"documentID\":\"99\"}\n")
        let e = try CLI.run(["teacher", bad.path, "--out", scratch.path("b.jsonl").path, "--dataset", "cranfield", "--data", collection.path], in: scratch)
        #expect(e.status != 0 && e.stderr.contains("\(bad.path):1:"), "\(e.stderr)")
    }

    @Test func badInvocationsAreRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("pairs.jsonl", try CLI.pairs)
        let out = scratch.path("o.jsonl").path
        for (arguments, fragment) in [
            (["teacher", data.path, "--out", out, "--reranker", "dense", "--dataset", "cranfield", "--data", "/nonexistent"], "only --fuse"),
            (["teacher", data.path, "--out", out, "--fuse", "rrf:60"], "--fuse needs --reranker"),
            (["teacher", data.path, "--out", out, "--data", "/tmp"], "need --dataset"),
            (["teacher", data.path, "--out", out, "--reranker", "dense", "--fuse", "mix:2"], "--fuse"),
            (["teacher", scratch.path("absent.jsonl").path, "--out", out], "absent.jsonl"),
        ] {
            let r = try CLI.run(arguments, in: scratch)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.contains(fragment), "\(arguments): \(r.stderr)")
        }
    }
}
