import Foundation
import Testing
import TestSupport
@testable import Datasets

/// The fixture collections under Fixtures/, each a few hand-written records.
enum Fixture {
    static func url(_ path: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(path)
    }
}

/// Runs `body`, which must throw a `DatasetError`, and returns it.
func datasetError(_ body: () throws -> Void) -> DatasetError? {
    do {
        try body()
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        return nil
    }
}

@Suite struct CranfieldTests {
    @Test func mapsQueriesByPositionAndGradesToGains() throws {
        let collection = try CranfieldDataset.load(directory: Fixture.url("cranfield"))
        #expect(collection.documents.map(\.id) == ["1", "2", "3", "4"])
        // .I 001, 002, 004 become 1, 2, 3: cranqrel numbers queries by position.
        #expect(collection.queries.map(\.id) == ["1", "2", "3"])
        #expect(collection.queries[0].text == "what is the aerodynamics of a wing in a slipstream .")
        #expect(collection.queries[2].text == "heat transfer in boundary layers .")
        // grade 1 -> gain 4, 4 -> 1, 2 -> 3; -1 lines are skipped.
        #expect(collection.qrels["1"] == ["1": 4, "2": 1])
        #expect(collection.qrels["3"] == ["4": 4])
        #expect(collection.qrels["2"]["9999"] == 2)
        #expect(collection.documents[1].title == "simple shear flow past a flat plate")
        #expect(collection.documents[1].text == "simple shear flow past a flat plate in an incompressible fluid .")
    }

    @Test func keepsEmptyDocumentsWithAWarningAndReportsUnknownDocuments() throws {
        let collection = try CranfieldDataset.load(directory: Fixture.url("cranfield"))
        #expect(collection.documents[2].id == "3" && collection.documents[2].contents.isEmpty)
        #expect(collection.warnings.contains { $0.line == 21 && $0.message.contains("document 3 is empty") })
        let unknown = collection.warnings.first { $0.message.contains("not in the corpus") }
        #expect(unknown?.line == 5)
        #expect(unknown?.message.hasPrefix("1 judgement(s)") == true)
    }

    @Test func rejectsAGradeOutsideTheScale() {
        let error = datasetError { _ = try CranfieldDataset.load(directory: Fixture.url("bad/cranfield-badgrade")) }
        guard case .malformed(let file, let line, _) = error else {
            Issue.record("expected malformed, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("cranqrel") && line == 2)
    }

    @Test func missingDirectoryNamesTheFile() {
        let error = datasetError { _ = try CranfieldDataset.load(directory: Fixture.url("no-such-dir")) }
        guard case .missingFile(let path) = error else {
            Issue.record("expected missingFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("no-such-dir/cran.all.1400"))
    }

    @Test(.enabled(if: Assets.enabled(Assets.cranfield)))
    func realCranfield() throws {
        let collection = try CranfieldDataset.load(directory: Assets.cranfield)
        #expect(collection.documents.count == 1400)
        #expect(collection.queries.count == 225)
        #expect(collection.qrels.judgements.count == 225)
        #expect(collection.qrels.judgements.values.reduce(0) { $0 + $1.count } == 1837 - 225)
        // The two known empty documents.
        #expect(collection.warnings.filter { $0.message.contains("is empty") }.count == 2)
    }
}

@Suite struct SMARTTests {
    @Test func readsRecordsAndNormalisesNumericIDs() throws {
        let collection = try SMARTDataset.load(
            documents: Fixture.url("smart/docs.txt"), queries: Fixture.url("smart/queries.txt"), qrels: Fixture.url("smart/qrels.txt"))
        #expect(collection.documents.map(\.id) == ["1", "2", "3"])
        #expect(collection.documents[0].title == "Preliminary report international algebraic language")
        #expect(collection.documents[0].text.isEmpty)  // .B/.A/.N/.X are not text
        #expect(collection.documents[2].title.isEmpty && collection.documents[2].text == "Techniques for sorting files on tape.")
        #expect(collection.queries.map(\.text) == ["What articles exist which deal with algebraic languages?", "sorting on magnetic tape"])
        // qrels write 01 for query 1: binary gains.
        #expect(collection.qrels["1"] == ["1": 1, "2": 1])
        #expect(collection.qrels["2"] == ["3": 1])
        #expect(collection.warnings.isEmpty)
    }

    @Test func textBeforeTheFirstRecordIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-smart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let docs = directory.appendingPathComponent("docs")
        try "stray text\n.I 1\n.W\nbody\n".write(to: docs, atomically: true, encoding: .utf8)
        let error = datasetError {
            _ = try SMARTDataset.load(documents: docs, queries: Fixture.url("smart/queries.txt"), qrels: Fixture.url("smart/qrels.txt"))
        }
        #expect(error == .malformed(file: docs.path, line: 1, reason: "text before the first .I record"))
    }
}

@Suite struct BEIRTests {
    @Test func keepsOnlyJudgedQueriesAndCountsUnknownDocuments() throws {
        let collection = try BEIRDataset.load(directory: Fixture.url("beir"))
        #expect(collection.documents.map(\.id) == ["d1", "d2", "3"])
        #expect(collection.documents[0].contents == "Vitamin C\nVitamin C prevents scurvy.")
        #expect(collection.queries.map(\.id) == ["q1", "q2"])
        #expect(collection.qrels["q1"] == ["d1": 2, "3": 1])
        #expect(collection.qrels["q2"] == ["d2": 1, "d404": 1])
        let warning = collection.warnings.first { $0.message.contains("not in the corpus") }
        #expect(warning?.line == 5 && warning?.message.contains("d404") == true)
    }

    @Test func truncatedJSONLNamesTheLine() {
        let error = datasetError { _ = try BEIRDataset.load(directory: Fixture.url("bad/beir-truncated")) }
        guard case .invalidJSON(let file, let line, _) = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("beir-truncated/corpus.jsonl") && line == 4)
    }

    @Test func duplicateDocumentID() {
        let error = datasetError { _ = try BEIRDataset.load(directory: Fixture.url("bad/beir-dup")) }
        #expect(error == .duplicateID(file: Fixture.url("bad/beir-dup/corpus.jsonl").path, line: 4, id: "d1", firstLine: 1))
    }

    @Test func emptyQuery() {
        let error = datasetError { _ = try BEIRDataset.load(directory: Fixture.url("bad/beir-emptyquery")) }
        #expect(error == .emptyQuery(file: Fixture.url("bad/beir-emptyquery/queries.jsonl").path, line: 2, id: "q2"))
    }

    @Test func invalidUTF8() {
        let error = datasetError { _ = try BEIRDataset.load(directory: Fixture.url("bad/beir-utf8")) }
        #expect(error == .invalidUTF8(file: Fixture.url("bad/beir-utf8/corpus.jsonl").path, line: 4))
    }

    @Test func messagesNameFileAndLine() {
        let error = DatasetError.invalidUTF8(file: "/x/corpus.jsonl", line: 4)
        #expect(error.description == "/x/corpus.jsonl:4: invalid UTF-8")
    }
}

@Suite struct BRIGHTTests {
    @Test func goldIDsAndExclusions() throws {
        let collection = try BRIGHTDataset.load(directory: Fixture.url("bright"), subset: "biology")
        #expect(collection.documents.count == 3)
        #expect(collection.queries.map(\.id) == ["0", "1"])
        #expect(collection.qrels["0"] == ["bio_3.txt": 1, "bio_1.txt": 1])
        // "N/A" means no exclusion.
        #expect(collection.excludedDocuments == ["1": ["bio_1.txt"]])
    }

    @Test func unknownSubsetListsTheAvailableOnes() {
        let error = datasetError { _ = try BRIGHTDataset.load(directory: Fixture.url("bright"), subset: "physics") }
        #expect(error == .unknownSubset(directory: Fixture.url("bright").path, name: "physics", available: ["biology"]))
    }
}

@Suite struct FollowIRTests {
    @Test func originalAndChangedInstructions() throws {
        let collection = try FollowIRDataset.load(directory: Fixture.url("followir"))
        #expect(collection.queries.count == 1)
        #expect(collection.queries[0].instruction == "Relevant documents describe hurricanes.")
        let change = try #require(collection.instructionChange)
        #expect(change.queries[0].instruction.hasSuffix("insurance claims are not relevant."))
        #expect(collection.qrels["301"] == ["n1": 1, "n2": 1, "n3": 0])
        #expect(change.qrels["301"] == ["n1": 1, "n2": 0, "n3": 0])
    }
}

@Suite struct TRECFormatTests {
    @Test func runRoundTripKeepsScoresAndOrder() throws {
        let run = Run(["q1": [ScoredDocument(id: "a", score: 2.5), ScoredDocument(id: "b", score: 0.1 + 0.2)],
                       "q2": [ScoredDocument(id: "c", score: -1)]], tag: "test")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-\(UUID().uuidString).run")
        defer { try? FileManager.default.removeItem(at: url) }
        try TRECFormat.writeRun(run, to: url)
        #expect(try TRECFormat.readRun(from: url) == run)
        #expect(TRECFormat.format(run).hasPrefix("q1 Q0 a 1 2.5 test\nq1 Q0 b 2 0.30000000000000004 test\n"))
    }

    @Test func tiesAreOrderedByDescendingID() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-\(UUID().uuidString).run")
        defer { try? FileManager.default.removeItem(at: url) }
        try "q 0 a 1 1.0 t\nq 0 c 2 1.0 t\nq 0 b 3 1.0 t\nq 0 z 4 0.5 t\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(try TRECFormat.readRun(from: url)["q"].map(\.id) == ["c", "b", "a", "z"])
    }

    @Test func qrelsRoundTrip() throws {
        let qrels = Qrels(["1": ["d1": 2, "d2": 0], "2": ["d3": 1]])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-\(UUID().uuidString).qrels")
        defer { try? FileManager.default.removeItem(at: url) }
        try TRECFormat.writeQrels(qrels, to: url)
        #expect(try TRECFormat.readQrels(from: url) == qrels)
    }

    @Test func badRuns() {
        #expect(datasetError { _ = try TRECFormat.readRun(from: Fixture.url("bad/unknown-query.run"), knownQueries: ["q1"]) }
            == .unknownQuery(file: Fixture.url("bad/unknown-query.run").path, line: 3, id: "q7"))
        #expect(datasetError { _ = try TRECFormat.readRun(from: Fixture.url("bad/duplicate.run")) }
            == .duplicateRunEntry(file: Fixture.url("bad/duplicate.run").path, line: 2, query: "q1", document: "d1"))
        guard case .malformed(_, 2, _) = datasetError({ _ = try TRECFormat.readRun(from: Fixture.url("bad/short-line.run")) }) else {
            Issue.record("a 5-field line must be rejected on line 2")
            return
        }
        guard case .malformed(_, 1, let reason) = datasetError({ _ = try TRECFormat.readRun(from: Fixture.url("bad/bad-score.run")) }) else {
            Issue.record("a non-numeric score must be rejected")
            return
        }
        #expect(reason.contains("high"))
    }

    @Test func emptyRunIsAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-\(UUID().uuidString).run")
        defer { try? FileManager.default.removeItem(at: url) }
        try "\n\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(datasetError { _ = try TRECFormat.readRun(from: url) } == .empty(file: url.path, what: "run lines"))
    }
}

@Suite struct TextLinesTests {
    @Test func longLinesAcrossChunksAndNoFinalNewline() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: url) }
        let long = String(repeating: "é", count: 1_500_000)  // 3 MB: spans several 1 MiB chunks
        try Data("first\r\n\(long)\nlast".utf8).write(to: url)
        var lines = try TextLines(url)
        #expect(try lines.next() == "first")
        #expect(try lines.next() == long)
        #expect(try lines.next() == "last")
        #expect(lines.lineNumber == 3)
        #expect(try lines.next() == nil)
    }
}
