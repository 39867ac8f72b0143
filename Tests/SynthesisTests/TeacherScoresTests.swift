import Datasets
import Foundation
import Grammar
import Reranking
import Retrieval
import Testing
@testable import Synthesis

/// `limrank teacher`'s library side: reading and rewriting training files,
/// grouping passages by query, and the teacher's scores (reranker alone,
/// fused with BM25 over documents or passages, BM25 alone).
@Suite struct TeacherScoresTests {
    /// Scores a passage by its length: a teacher whose every score is known.
    struct LengthReranker: Reranker {
        var name: String { "length" }
        func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
            try validate(query: query, candidates: candidates)
            return RankedResults(query: query, results: rankByScore(candidates.map { Double($0.contents.count) }, candidates: candidates))
        }
    }

    static func file(_ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-teacher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("examples.jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }

    static let examples = """
        {"id":"e1","query":"boundary layer","instruction":"","positives":[{"id":"e1-p0","text":"the boundary layer on a flat plate","votes":[true],"documentID":"d1"}],"negatives":[{"id":"e1-n0","text":"panel flutter","votes":[false],"documentID":"d3","score":9.50}],"extra":{"kept":1.50}}

        {"query":"heat transfer","passage":"heat transfer in a cone","label":true}
        {"query":"heat transfer","passage":"shock waves","label":0,"documentID":"d5"}

        """

    static let documents = DocumentCollection(name: "tiny", documents: [
        Document(id: "d1", text: "the boundary layer on a flat plate"),
        Document(id: "d2", text: "heat transfer in a cone"),
        Document(id: "d3", text: "panel flutter"),
        Document(id: "d5", text: "shock waves and the boundary layer"),
        Document(id: "d6", text: "heat heat transfer"),
    ], source: "memory")

    @Test func readsBothLayoutsAndGroupsPassagesByQuery() throws {
        let url = try Self.file(Self.examples)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let file = try TeacherFile.read(url)
        #expect(file.groups.map(\.query) == ["boundary layer", "heat transfer"])
        #expect(file.groups[0].passages.map(\.text) == ["the boundary layer on a flat plate", "panel flutter"])
        #expect(file.groups[0].passages.map(\.documentID) == ["d1", "d3"])
        #expect(file.groups[1].passages.map(\.line) == [3, 4])
        #expect(file.groups[1].passages.map(\.documentID) == [nil, "d5"])
        #expect(file.passageCount == 4)
    }

    @Test func rerankerScoresAreWrittenOnEveryPassageAndNothingElseChanges() async throws {
        let url = try Self.file(Self.examples)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        var file = try TeacherFile.read(url)
        let scorer = try TeacherScorer(reranker: LengthReranker(), fusion: nil, bm25: nil)
        var calls: [Int] = []
        let scores = try await scorer.scores(file) { done, _, _ in calls.append(done) }
        #expect(calls == [1, 2])
        #expect(scores == [[34, 13], [23, 11]])
        try file.setScores(scores)
        let lines = file.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        // Key order, other fields and number spellings survive; an old score is replaced in place.
        #expect(lines[0] == #"{"id":"e1","query":"boundary layer","instruction":"","positives":[{"id":"e1-p0","text":"the boundary layer on a flat plate","votes":[true],"documentID":"d1","score":34.0}],"negatives":[{"id":"e1-n0","text":"panel flutter","votes":[false],"documentID":"d3","score":13.0}],"extra":{"kept":1.50}}"#)
        #expect(lines[1] == #"{"query":"heat transfer","passage":"heat transfer in a cone","label":true,"score":23.0}"#)
        #expect(lines[2] == #"{"query":"heat transfer","passage":"shock waves","label":0,"documentID":"d5","score":11.0}"#)
        // The written file reads back with the scores.
        let out = url.deletingLastPathComponent().appendingPathComponent("scored.jsonl")
        try file.write(to: out)
        let back = try TeacherFile.read(out)
        #expect(back.groups.map { $0.passages.count } == [2, 2])
        #expect(try String(contentsOf: out, encoding: .utf8) == file.text)
    }

    /// Fusion over BM25 of the collection's documents equals ScoreFusion on
    /// hand-gathered BM25 and reranker scores; a passage is found by its
    /// documentID, else by its text.
    @Test func fusionWithBM25OverDocuments() async throws {
        let url = try Self.file(Self.examples)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let file = try TeacherFile.read(url)
        let bm25 = TeacherBM25(documents: Self.documents)
        let index = BM25Index.build(documents: Self.documents.documents)
        let firstStage = [index.scores("boundary layer", positions: [0, 2]), index.scores("heat transfer", positions: [1, 3])]
        #expect(firstStage[0][0] > 0 && firstStage[1][0] > 0)
        for fusion in [ScoreFusion.interpolate(lambda: 0.3), .reciprocalRank(k: 60)] {
            let scorer = try TeacherScorer(reranker: LengthReranker(), fusion: fusion, bm25: bm25)
            let scores = try await scorer.scores(file)
            let rerank: [[Double]] = [[34, 13], [23, 11]]
            for g in 0..<2 {
                let expected = fusion.fuse(firstStage: firstStage[g], rerank: rerank[g])
                #expect(scores[g] == expected, "\(fusion) group \(g)")
            }
        }
        // BM25 alone.
        let alone = try await TeacherScorer(reranker: nil, fusion: nil, bm25: bm25).scores(file)
        #expect(alone == firstStage)
    }

    /// Without a collection, BM25 indexes the file's distinct passages.
    @Test func bm25OverThePassagesThemselves() async throws {
        let url = try Self.file(Self.examples)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let file = try TeacherFile.read(url)
        let texts = ["the boundary layer on a flat plate", "panel flutter", "heat transfer in a cone", "shock waves"]
        let index = BM25Index.build(documents: texts.enumerated().map { Document(id: "\($0.offset)", text: $0.element) })
        let scores = try await TeacherScorer(reranker: nil, fusion: nil, bm25: TeacherBM25(passagesOf: file)).scores(file)
        #expect(scores == [index.scores("boundary layer", positions: [0, 1]), index.scores("heat transfer", positions: [2, 3])])
        #expect(scores[1][1] == 0)
    }

    static func readError(_ text: String) throws -> (line: Int, reason: String)? {
        let url = try file(text)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        do {
            _ = try TeacherFile.read(url)
            return nil
        } catch let SynthesisError.corruptRecord(file, line, reason) {
            #expect(file == url.path)
            return (line, reason)
        }
    }

    @Test func badLinesNameTheirLine() throws {
        let good = "{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n"
        for (text, line, fragment) in [
            (good + "{\"query\":\"q\",\"passage\":\n", 2, "not valid JSON"),
            (good + "[1]\n", 2, "not a JSON object"),
            (good + "\n{\"passage\":\"p\"}\n", 3, "missing field \"query\""),
            ("{\"query\":\"  \",\"passage\":\"p\"}\n", 1, "empty query"),
            (good + "{\"query\":\"q\"}\n", 2, "missing field \"passage\""),
            ("{\"query\":\"q\",\"positives\":[{\"id\":\"x\"}]}\n", 1, "positives item 0: missing field \"text\""),
            ("{\"query\":\"q\",\"positives\":[],\"negatives\":[{\"text\":\" \"}]}\n", 1, "negatives item 0: empty passage"),
            ("{\"query\":\"q\",\"positives\":[],\"negatives\":[]}\n", 1, "no passage"),
            ("{\"query\":\"q\",\"passage\":\"p\",\"documentID\":7}\n", 1, "documentID"),
            ("{\"query\":\"q\",\"instruction\":3,\"passage\":\"p\"}\n", 1, "instruction"),
        ] {
            let error = try Self.readError(text)
            #expect(error?.line == line, "\(text)")
            #expect(error?.reason.contains(fragment) == true, "\(error?.reason ?? "no error") lacks \(fragment)")
        }
        #expect(throws: SynthesisError.self) { try TeacherFile.read(try Self.file("\n\n")) }
    }

    @Test func passagesThatAreNoDocumentAreRefused() async throws {
        let bm25 = TeacherBM25(documents: Self.documents)
        for (text, fragment) in [
            ("{\"query\":\"q\",\"passage\":\"p\",\"documentID\":\"d99\"}\n", "documentID \"d99\" is not one of"),
            ("{\"query\":\"q\",\"passage\":\"not in the collection\"}\n", "give the passage's \"documentID\""),
        ] {
            let url = try Self.file(text)
            defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
            let file = try TeacherFile.read(url)
            await #expect {
                try await TeacherScorer(reranker: nil, fusion: nil, bm25: bm25).scores(file)
            } throws: { error in
                guard case let SynthesisError.corruptRecord(_, line, reason) = error else { return false }
                return line == 1 && reason.contains(fragment)
            }
        }
        #expect(throws: SynthesisError.self) { try TeacherScorer(reranker: nil, fusion: nil, bm25: nil) }
        #expect(throws: SynthesisError.self) { try TeacherScorer(reranker: LengthReranker(), fusion: .reciprocalRank(k: 60), bm25: nil) }
    }

    @Test func nonFiniteScoresAreRefused() throws {
        let url = try Self.file("{\"query\":\"q\",\"passage\":\"p\",\"label\":true}\n")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        var file = try TeacherFile.read(url)
        #expect(throws: SynthesisError.self) { try file.setScores([[.nan]]) }
    }
}
