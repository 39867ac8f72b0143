import Datasets
import Foundation

/// Remembers rankings on disk so that a repeated run costs nothing.
///
/// The key covers everything the ranking depends on: the strategy and its
/// settings (`fingerprint`: model id, prompt version, depth-independent
/// parameters), the query text and instruction, and each candidate's id and
/// contents in order. A whole ranking is cached for listwise and pairwise,
/// whose scores depend on the candidate set. Pointwise scores do not, and a
/// reasoning run spends minutes per query, so pointwise caches each passage
/// as soon as it is judged (keyed by the same fingerprint, the query and
/// that passage alone): an interrupted or partly failed run resumes with
/// only the missing passages. Whole-ranking entries written for pointwise
/// before per-passage caching are still read.
///
/// The file is a keyed set, not a log to compare line by line: with several
/// requests in flight, entries are appended in the order they finish, so
/// two runs of different concurrency hold the same entries in different
/// orders (and any order reads back the same).
public struct CachedReranker: Reranker {
    public var base: any Reranker
    public var fingerprint: String
    public var store: RankingCache

    public var name: String { base.name }

    public init(base: any Reranker, fingerprint: String, store: RankingCache) {
        self.base = base
        self.fingerprint = fingerprint
        self.store = store
    }

    public func rerank(query: Query, candidates: [Document]) async throws -> RankedResults {
        let key = Self.key(fingerprint: fingerprint, query: query, candidates: candidates)
        if let hit = await store.lookup(key), hit.count == candidates.count,
           hit.allSatisfy({ $0.index < candidates.count && candidates[$0.index].id == $0.documentID }) {
            return RankedResults(query: query, results: hit)
        }
        if let pointwise = base as? PointwiseLLMReranker {
            let (fingerprint, store) = (fingerprint, store)
            return try await pointwise.rerank(query: query, candidates: candidates) { document in
                let key = Self.passageKey(fingerprint: fingerprint, query: query, document: document)
                if let hit = await store.lookupPassage(key) { return hit }
                let judged = try await pointwise.judge(query: query, document: document)
                try await store.insertPassage(key, judged)
                return judged
            }
        }
        let ranked = try await base.rerank(query: query, candidates: candidates)
        try await store.insert(key, ranked.results)
        return ranked
    }

    static func key(fingerprint: String, query: Query, candidates: [Document]) -> String {
        var hasher = FNV1a()
        hasher.add(fingerprint)
        hasher.add(query.text)
        hasher.add(query.instruction)
        for document in candidates {
            hasher.add(document.id)
            hasher.add(document.contents)
        }
        return hasher.hex
    }

    /// A different field count from `key`'s, so the two never collide.
    static func passageKey(fingerprint: String, query: Query, document: Document) -> String {
        var hasher = FNV1a()
        hasher.add("passage@v1")
        hasher.add(fingerprint)
        hasher.add(query.text)
        hasher.add(query.instruction)
        hasher.add(document.id)
        hasher.add(document.contents)
        return "p" + hasher.hex
    }
}

/// A 128-bit FNV-1a over length-prefixed fields: stable across runs and
/// platforms (Swift's `Hasher` is seeded per process, so it cannot key a file).
struct FNV1a {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x6c62_272e_07bb_0142
    mutating func add(_ text: String) {
        let bytes = Array(text.utf8)
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { for byte in $0 { mix(byte) } }
        for byte in bytes { mix(byte) }
    }
    private mutating func mix(_ byte: UInt8) {
        a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
        b = (b ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 0x9e37_79b9_7f4a_7c15
    }
    var hex: String { String(format: "%016llx%016llx", a, b) }
}

/// An append-only JSONL file of cached rankings, loaded once.
public actor RankingCache {
    /// A whole ranking (`results`), or one passage's pointwise judgement
    /// (`score`, `read`); files written before per-passage entries hold only the first kind.
    struct Entry: Codable {
        var key: String
        var results: [RerankResult]?
        var score: Double?
        var read: Bool?
    }

    public let url: URL?
    private var entries: [String: [RerankResult]] = [:]
    private var passages: [String: (score: Double, read: Bool)] = [:]
    private var handle: FileHandle?

    /// In memory only.
    public init() {
        url = nil
    }

    /// Backed by `url`; a torn last line (an interrupted write) is skipped.
    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if fm.fileExists(atPath: url.path) {
            let data = try Data(contentsOf: url)
            let decoder = JSONDecoder()
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard let entry = try? decoder.decode(Entry.self, from: Data(line)) else { continue }
                if let results = entry.results {
                    entries[entry.key] = results
                } else if let score = entry.score {
                    passages[entry.key] = (score, entry.read ?? true)
                }
            }
            // Make sure the next append starts on a fresh line.
            if let last = data.last, last != UInt8(ascii: "\n") {
                try Self.append(Data("\n".utf8), to: url)
            }
        } else if !fm.createFile(atPath: url.path, contents: nil) {
            throw RerankingError.invalidParameter(name: "cache", reason: "cannot create \(url.path)")
        }
    }

    /// Entries held: whole rankings plus single passages.
    public var count: Int { entries.count + passages.count }
    /// Single-passage entries held.
    public var passageCount: Int { passages.count }

    func lookup(_ key: String) -> [RerankResult]? { entries[key] }

    func lookupPassage(_ key: String) -> (score: Double, read: Bool)? { passages[key] }

    func insert(_ key: String, _ results: [RerankResult]) throws {
        entries[key] = results
        try write(Entry(key: key, results: results))
    }

    /// A key already held is not written again (two queries with the same
    /// text can judge the same passage at the same time).
    func insertPassage(_ key: String, _ judged: (score: Double, read: Bool)) throws {
        guard passages[key] == nil else { return }
        passages[key] = judged
        try write(Entry(key: key, score: judged.score, read: judged.read))
    }

    private func write(_ entry: Entry) throws {
        guard let url else { return }
        // Sorted keys: the same entry is the same line in every run (the
        // encoder's key order otherwise varies from process to process).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(entry)
        line.append(UInt8(ascii: "\n"))
        if handle == nil { handle = try FileHandle(forWritingTo: url) }
        try handle?.seekToEnd()
        try handle?.write(contentsOf: line)
    }

    private static func append(_ data: Data, to url: URL) throws {
        let h = try FileHandle(forWritingTo: url)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: data)
    }
}
