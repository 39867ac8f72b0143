import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import LimRankCLI
import Datasets

/// `synthesize --corpus` with a model-free query source and a validation
/// split, then `tune` on that split, on a collection whose queries file is
/// garbage: neither command may read it.
@Suite struct TuneCommandTests {
    /// A 2-layer BERT cross-encoder committed for the Models tests: a real reranker that costs nothing to run.
    static let tinyCrossEncoder = Assets.repoRoot.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-bert-cross").path

    static func writeCollection(titles: Bool = true) throws -> URL {
        let topics = ["turbine blade fatigue", "honeybee winter cluster", "sourdough bread fermentation", "glacier bedrock sliding",
                      "laminar boundary layer", "violin varnish damping", "orbital rendezvous phasing", "compost pile oxygen",
                      "vaccine memory cells", "tide pool barnacles", "supersonic inlet shocks", "helicopter rotor noise"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var text = ""
        for (i, topic) in topics.enumerated() {
            let body = "Studies of \(topic) report new measurements. The \(topic) results agree with theory at low speed. "
                + "Further \(topic) experiments are planned for next year with better instruments."
            text += ".I \(i + 1)\n.T\n\(titles ? topic : "")\n.A\nsomeone\n.B\nj. test 1\n.W\n\(body)\n"
        }
        try text.write(to: dir.appendingPathComponent(CranfieldDataset.documentsFile), atomically: true, encoding: .utf8)
        try "\u{0}\u{1}not a SMART file at all {{{\n".write(to: dir.appendingPathComponent(CranfieldDataset.queriesFile), atomically: true, encoding: .utf8)
        return dir
    }

    func synthesize(_ collection: URL, _ extra: [String]) async throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tune-out-\(UUID().uuidString)")
        let command = try SynthesizeRun.parse(["--corpus", "--dataset", "cranfield", "--data", collection.path, "--embedder", "hashing",
                                               "--target", "40", "--seed", "2", "--out", out.path] + extra)
        try command.validate()
        try await command.run()
        return out
    }

    @Test func tuneChoosesAFusionOnSyntheticValidationOnly() async throws {
        let out = try await synthesize(try Self.writeCollection(),
                                       ["--query-source", "ict", "--queries-per-document", "2", "--round-trip", "bm25", "--round-trip-k", "5",
                                        "--validation-fraction", "0.5"])
        let validation = out.appendingPathComponent("validation")
        let collection = try BEIRDataset.load(directory: validation)
        #expect(collection.queries.count > 0 && collection.documents.count == 12)

        let command = try TuneCommand.parse(["--validation", validation.path, "--reranker", "cross-encoder", "--model", Self.tinyCrossEncoder, "--no-cache",
                                             "--depth", "10", "--top-k", "10", "--interpolate-grid", "0,0.5,1", "--rrf-grid", "60", "--format", "json"])
        let result = try await command.tune()
        #expect(result.queries == collection.qrels.judgements.count)
        #expect(result.rows.map(\.setting) == ["bm25", "reranker", "interpolate:0.0", "interpolate:0.5", "interpolate:1.0", "rrf:60.0"])
        // LAMBDA 1 is the reranker's order alone.
        let alone = try #require(result.rows.first { $0.setting == "reranker" })
        let one = try #require(result.rows.first { $0.setting == "interpolate:1.0" })
        #expect(abs((alone.metrics["ndcg@10"] ?? -1) - (one.metrics["ndcg@10"] ?? -2)) < 1e-12)
        // The chosen row is a best one, the first of its value.
        let best = result.rows.map { $0.metrics["ndcg@10"] ?? 0 }.max() ?? 0
        let chosen = try #require(result.rows.first { $0.setting == result.chosen })
        #expect(chosen.metrics["ndcg@10"] == best)
        #expect(result.rows.first { ($0.metrics["ndcg@10"] ?? 0) == best }?.setting == result.chosen)
        #expect(TuneCommand.table(result).contains("chosen      \(result.chosen)"))
    }

    @Test func tuneRefusesBadInput() throws {
        #expect(throws: (any Error).self) { try TuneCommand.parse(["--validation", "/nonexistent"]) }  // no --reranker
        #expect(throws: (any Error).self) { try TuneCommand.parse(["--validation", "v", "--reranker", "dense", "--fuse", "rrf:60"]) }
        #expect(throws: (any Error).self) { try TuneCommand.parse(["--validation", "v", "--reranker", "dense", "--interpolate-grid", "0.5,2"]) }
        #expect(throws: (any Error).self) { try TuneCommand.parse(["--validation", "v", "--reranker", "dense", "--metric", "p@5"]) }
        #expect((try? TuneCommand.parse(["--validation", "v", "--reranker", "dense"])) != nil)
    }

    @Test func synthesizeRefusesBadQuerySourceSettings() async throws {
        let collection = try Self.writeCollection()
        func message(_ extra: [String], in directory: URL = collection) async -> String {
            do { _ = try await synthesize(directory, extra) } catch { return "\(error)" }
            return ""
        }
        #expect(await message(["--query-source", "poems"]).contains("unknown source \"poems\""))
        #expect(await message(["--query-source", "ict", "--queries-per-document", "0"]).contains("queries_per_document"))
        #expect(await message(["--query-source", "title", "--queries-per-document", "3"]).contains("at most 1 per document"))
        #expect(await message(["--query-source", "title", "--round-trip", "bm25", "--round-trip-k", "0"]).contains("round_trip_k"))
        #expect(await message(["--query-source", "ict", "--false-negative-filter", "llm"]).contains("without a backend"))
        #expect(throws: (any Error).self) { try SynthesizeRun.parse(["--out", "o", "--query-source", "ict"]) }  // not without --corpus
        let titleless = await message(["--query-source", "title"], in: try Self.writeCollection(titles: false))
        #expect(titleless.contains("has a title"))
        #expect(await message(["--query-source", "title"]).isEmpty)
    }
}
