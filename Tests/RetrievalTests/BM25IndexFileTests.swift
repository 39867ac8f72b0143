import Datasets
import Foundation
import Testing
@testable import Retrieval

@Suite struct BM25IndexFileTests {
    func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("limrank-retrieval-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
    }

    func error(loading url: URL) -> RetrievalError? {
        do {
            _ = try BM25Index.load(from: url)
            return nil
        } catch let e as RetrievalError {
            return e
        } catch {
            return nil
        }
    }

    func savedBytes(_ name: String) throws -> (URL, [UInt8]) {
        let url = temporaryFile(name)
        try BM25Index.build(documents: smallCorpus, parameters: BM25Parameters(k1: 1.1, b: 0.3)).save(to: url)
        return (url, [UInt8](try Data(contentsOf: url)))
    }

    @Test func roundTripSearchesTheSame() throws {
        let url = temporaryFile("roundtrip.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        let built = BM25Index.build(documents: smallCorpus, parameters: BM25Parameters(k1: 1.1, b: 0.3))
        try built.save(to: url)
        let loaded = try BM25Index.load(from: url)
        #expect(loaded.parameters == built.parameters)
        #expect(loaded.documentIDs == built.documentIDs)
        #expect(loaded.termCount == built.termCount)
        #expect(loaded.postingCount == built.postingCount)
        for query in ["boundary layer", "supersonic flutter", "heat transfer cone", "zzz"] {
            #expect(loaded.search(query, topK: 10) == built.search(query, topK: 10))
        }
    }

    @Test func emptyCollectionRoundTrips() async throws {
        let url = temporaryFile("empty.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        let empty = BM25Index.build(documents: [])
        try empty.save(to: url)
        let loaded = try BM25Index.load(from: url)
        #expect(loaded.documentCount == 0 && loaded.termCount == 0)
        #expect(loaded.search("anything", topK: 10).isEmpty)
        let run = await loaded.search([Query(id: "1", text: "anything")], topK: 10)
        #expect(run["1"].isEmpty)
    }

    @Test func flippedByteIsACorruptIndex() throws {
        var (url, bytes) = try savedBytes("flipped.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: url)
        let e = error(loading: url)
        guard case .checksumMismatch(let file, _, _) = e else {
            Issue.record("expected a checksum error, got \(String(describing: e))")
            return
        }
        #expect(file == url.path)
        #expect(e?.description.contains(url.path) == true)
    }

    @Test func truncatedFileSaysSo() throws {
        let (url, bytes) = try savedBytes("truncated.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes.prefix(bytes.count - 100)).write(to: url)
        let e = error(loading: url)
        #expect(e == .truncatedIndex(file: url.path, expectedBytes: bytes.count, actualBytes: bytes.count - 100))
        try Data(bytes.prefix(20)).write(to: url)
        #expect(error(loading: url) == .truncatedIndex(file: url.path, expectedBytes: 72, actualBytes: 20))
    }

    @Test func otherVersionIsRejected() throws {
        var (url, bytes) = try savedBytes("version.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        bytes[8] = 0
        try Data(bytes).write(to: url)
        let e = error(loading: url)
        #expect(e == .unsupportedIndexVersion(file: url.path, found: 0, supported: 1))
        #expect(e?.description.contains("rebuild") == true)
    }

    @Test func foreignAndMissingFiles() throws {
        let url = temporaryFile("foreign.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("qid docid score\n".utf8).write(to: url)
        #expect(error(loading: url) == .notAnIndex(file: url.path))
        let missing = temporaryFile("missing.bm25")
        guard case .indexFileUnreadable(let file, _) = error(loading: missing) else {
            Issue.record("expected unreadable")
            return
        }
        #expect(file == missing.path)
    }

    /// A file whose checksum is right but whose content is inconsistent
    /// (as a buggy writer could produce) fails structurally, naming the section.
    @Test func inconsistentContentNamesTheSection() throws {
        var (url, bytes) = try savedBytes("inconsistent.bm25")
        defer { try? FileManager.default.removeItem(at: url) }
        // Claim one more posting than there are.
        let postingsOffset = 48
        bytes[postingsOffset] &+= 1
        let sum = bytes[0..<(bytes.count - 8)].withUnsafeBytes { BM25IndexFile.checksum($0) }
        withUnsafeBytes(of: sum.littleEndian) { raw in
            for i in 0..<8 { bytes[bytes.count - 8 + i] = raw[i] }
        }
        try Data(bytes).write(to: url)
        guard case .corruptIndex(let file, let field, _) = error(loading: url) else {
            Issue.record("expected corruptIndex, got \(String(describing: error(loading: url)))")
            return
        }
        #expect(file == url.path)
        #expect(!field.isEmpty)
    }
}
