import Foundation
import Testing
import TestSupport
import Training

/// `limrank train bi-encoder` as a subprocess on the tiny sentence-transformers
/// model: the directory it writes is embedded by `limrank embed`, and bad input
/// is refused naming its line.
@Suite(.serialized) struct BiEncoderTrainCLITests {
    static var tiny: URL { TrainCLITests.trainingFixtures.appendingPathComponent("tiny-biencoder") }

    /// Queries with a positive and a hard negative (the tiny vocabulary), with teacher scores.
    static let examples = """
    {"query":"what is the boundary layer","positives":[{"text":"the boundary layer is a thin layer of flow","documentID":"d1","score":0.9}],"negatives":[{"text":"rank the model","documentID":"d2","score":0.1}]}
    {"query":"how does heat flow","positives":[{"text":"heat flows from high to low","documentID":"d3","score":0.8}],"negatives":[{"text":"shock waves on a wing","documentID":"d4","score":0.3}]}
    {"query":"shock wing","positives":[{"text":"shock waves on a wing","documentID":"d4","score":0.7}],"negatives":[{"text":"the number of the document","documentID":"d5","score":-0.2}]}
    {"query":"air speed","positives":[{"text":"high air speed flow","documentID":"d6","score":0.6}],"negatives":[{"text":"heat of the model","documentID":"d7","score":0.4}]}
    {"query":"pressure model","positives":[{"text":"a model of the pressure","documentID":"d8","score":0.95}],"negatives":[{"text":"what is a query","documentID":"d9","score":0.05}]}
    {"query":"rank document","positives":[{"text":"rank the document by the query","documentID":"d10","score":0.5}],"negatives":[{"text":"the wing layer","documentID":"d11","score":0.45}]}
    """

    static func arguments(_ data: URL, out: URL, loss: String) -> [String] {
        ["train", "bi-encoder", "--loss", loss, "--data", data.path, "--model", tiny.path, "--out", out.path,
         "--epochs", "2", "--batch-size", "3", "--lr", "1e-3", "--seed", "5", "--validation-fraction", "0", "--max-seq", "32"]
    }

    @Test(arguments: ["mnrl", "margin-mse"])
    func trainsAndWritesASentenceTransformersDirectory(_ loss: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("examples.jsonl", Self.examples)
        let out = scratch.path("model")
        let result = try TrainCLITests.run(Self.arguments(data, out: out, loss: loss), in: scratch)
        #expect(result.status == 0, "\(result.stderr)")
        for file in ["modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "2_Normalize", "config.json",
                     "model.safetensors", "tokenizer.json", "training_summary.json", "loss_curve.svg"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        struct Summary: Decodable { var method: String; var loss: String; var steps: Int; var losses: [Float] }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: out.appendingPathComponent("training_summary.json")))
        #expect(summary.method == "bi-encoder" && summary.loss == loss)
        // 6 rows, batches of 3 (d4 is one row's positive and another's negative: those two never share a batch), 2 epochs.
        #expect(summary.steps == 4 && summary.losses.count == 4)
        #expect(result.stderr.contains("no two rows of one query or document in a batch"))

        // `limrank embed` takes the written directory through the one loader.
        let embed = try Self.capture(["embed", "--model", out.path, "--text", "heat flow", "--text", "the wing layer"], in: scratch)
        #expect(embed.status == 0, "\(embed.stderr)")
        struct Many: Decodable { var dim: Int; var embeddings: [[Float]] }
        let many = try JSONDecoder().decode(Many.self, from: Data(embed.stdout.utf8))
        #expect(many.dim == 32 && many.embeddings.count == 2)
        let norm = many.embeddings[0].reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - 1) < 1e-4, "the Normalize module is kept")
        // The trained weights differ from the base's: the base embeds the text elsewhere.
        let base = try Self.capture(["embed", "--model", Self.tiny.path, "--text", "heat flow", "--text", "the wing layer"], in: scratch)
        let before = try JSONDecoder().decode(Many.self, from: Data(base.stdout.utf8))
        #expect(before.embeddings[0] != many.embeddings[0])
    }

    /// `--margin-scale auto` fits the teacher's margins onto the start
    /// model's and records the factor; a number is taken as given; bad values
    /// and a loss without margins are refused.
    @Test func marginScaleIsFittedOrGivenAndRecorded() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let data = try scratch.file("examples.jsonl", Self.examples)
        struct Summary: Decodable { var marginScale: Double? }
        for (value, index) in [("auto", 0), ("0.25", 1)] {
            let out = scratch.path("model\(index)")
            let result = try TrainCLITests.run(Self.arguments(data, out: out, loss: "margin-mse") + ["--margin-scale", value], in: scratch)
            #expect(result.status == 0, "\(result.stderr)")
            let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: out.appendingPathComponent("training_summary.json")))
            let factor = try #require(summary.marginScale)
            if value == "auto" {
                #expect(factor > 0 && factor != 1)
                #expect(result.stderr.contains("margin-scale auto: "), "\(result.stderr)")
            } else {
                #expect(factor == 0.25)
            }
        }
        for (arguments, message) in [(["--margin-scale=-1"], "--margin-scale must be a positive number or auto"),
                                     (["--margin-scale", "wide"], "--margin-scale must be a positive number or auto")] {
            let result = try TrainCLITests.run(Self.arguments(data, out: scratch.path("bad"), loss: "margin-mse") + arguments, in: scratch)
            #expect(result.status != 0 && result.stderr.contains(message), "\(result.stderr)")
        }
        let mnrl = try TrainCLITests.run(Self.arguments(data, out: scratch.path("bad"), loss: "mnrl") + ["--margin-scale", "auto"], in: scratch)
        #expect(mnrl.status != 0 && mnrl.stderr.contains("--margin-scale is for --loss margin-mse"), "\(mnrl.stderr)")
    }

    @Test func marginMSEWithoutTeacherScoresNamesTheLine() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let lines = Self.examples.split(separator: "\n").map(String.init)
        let unscored = lines[0] + "\n" + lines[1].replacingOccurrences(of: ",\"score\":0.3", with: "") + "\n"
        let data = try scratch.file("examples.jsonl", unscored)
        let result = try TrainCLITests.run(Self.arguments(data, out: scratch.path("model"), loss: "margin-mse"), in: scratch)
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(data.path):2: margin-mse needs a teacher \"score\""), "\(result.stderr)")
    }

    static func capture(_ arguments: [String], in scratch: ScratchDirectory) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = TrainCLITests.binary
        process.arguments = arguments
        let out = scratch.path("stdout-\(UUID().uuidString).txt"), err = scratch.path("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
