import Datasets
import Foundation
import Grammar
import Reranking
import Retrieval

/// A training file as `limrank teacher` reads and rewrites it: either layout
/// `limrank train` reads (examples.jsonl lines `{"query", "instruction"?,
/// "positives": [{"text", "documentID"?}], "negatives": [...]}`, or pair
/// lines `{"query", "passage", "label", "documentID"?}`), every line kept as
/// parsed (key order, number spellings and fields the teacher does not know
/// survive), its passages grouped by query. Pair lines of one query form one
/// group, so the teacher sees all of a query's passages together.
public struct TeacherFile: Sendable {
    /// One passage of the file and where it sits.
    public struct Passage: Sendable, Hashable {
        public var text: String
        /// The collection document it is (corpus mode), when the line says.
        public var documentID: String?
        /// 1-based line number.
        public var line: Int
        let slot: Slot
    }

    enum Slot: Sendable, Hashable {
        case line
        case positives(Int)
        case negatives(Int)
    }

    /// A query (with its instruction) and every passage the file pairs with it, in file order.
    public struct Group: Sendable {
        public var query: String
        public var instruction: String
        public var passages: [Passage]
    }

    public let path: String
    public private(set) var groups: [Group]
    /// The non-blank lines, parsed, with their 1-based numbers.
    var lines: [(number: Int, value: JSONValue)]

    public var passageCount: Int { groups.reduce(0) { $0 + $1.passages.count } }

    public static func read(_ url: URL) throws -> TeacherFile {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SynthesisError.readFailed(path: path, reason: error.localizedDescription) }
        func bad(_ line: Int, _ reason: String) -> SynthesisError { .corruptRecord(file: path, line: line, reason: reason) }
        var lines: [(number: Int, value: JSONValue)] = []
        var groups: [Group] = [], groupIndex: [String: Int] = [:]
        var number = 0
        for var raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if raw.last == 0x0D { raw = raw.dropLast() }
            if number == 1, raw.starts(with: [0xEF, 0xBB, 0xBF]) { raw = raw.dropFirst(3) }
            guard let text = String(validating: raw, as: UTF8.self) else { throw bad(number, "not valid UTF-8") }
            if text.allSatisfy(\.isWhitespace) { continue }
            let value: JSONValue
            do { value = try JSONValue(parsing: text, source: "\(path):\(number)") } catch { throw bad(number, "not valid JSON (\(error))") }
            guard case .object = value else { throw bad(number, "not a JSON object") }
            guard case .string(let query)? = value["query"] else { throw bad(number, "missing field \"query\" (a string)") }
            guard !query.allSatisfy(\.isWhitespace) else { throw bad(number, "empty query") }
            var instruction = ""
            switch value["instruction"] {
            case nil, .null?: break
            case .string(let s)?: instruction = s
            default: throw bad(number, "field \"instruction\" is not a string")
            }
            func passage(_ object: JSONValue, slot: Slot, field: String) throws -> Passage {
                guard case .string(let text)? = object[field] else { throw bad(number, "\(Self.describe(slot)): missing field \"\(field)\" (a string)") }
                guard !text.allSatisfy(\.isWhitespace) else { throw bad(number, "\(Self.describe(slot)): empty passage text") }
                var documentID: String?
                switch object["documentID"] {
                case nil, .null?: break
                case .string(let id)?: documentID = id
                default: throw bad(number, "\(Self.describe(slot)): field \"documentID\" is not a string")
                }
                return Passage(text: text, documentID: documentID, line: number, slot: slot)
            }
            var passages: [Passage] = []
            if value["positives"] != nil || value["negatives"] != nil {
                for (field, make) in [("positives", Slot.positives), ("negatives", Slot.negatives)] {
                    switch value[field] {
                    case nil, .null?: break
                    case .array(let items)?:
                        for (i, item) in items.enumerated() {
                            guard case .object = item else { throw bad(number, "\(field) item \(i) is not an object") }
                            passages.append(try passage(item, slot: make(i), field: "text"))
                        }
                    default: throw bad(number, "field \"\(field)\" is not an array")
                    }
                }
                guard !passages.isEmpty else { throw bad(number, "no passage: \"positives\" and \"negatives\" are both empty") }
            } else {
                guard value["passage"] != nil else { throw bad(number, "missing field \"passage\" (or \"positives\"/\"negatives\")") }
                passages.append(try passage(value, slot: .line, field: "passage"))
            }
            let key = query + "\u{0}" + instruction
            if let g = groupIndex[key] {
                groups[g].passages += passages
            } else {
                groupIndex[key] = groups.count
                groups.append(Group(query: query, instruction: instruction, passages: passages))
            }
            lines.append((number, value))
        }
        guard !groups.isEmpty else { throw SynthesisError.readFailed(path: path, reason: "no (query, passage) line") }
        return TeacherFile(path: path, groups: groups, lines: lines)
    }

    static func describe(_ slot: Slot) -> String {
        switch slot {
        case .line: return "the pair"
        case .positives(let i): return "positives item \(i)"
        case .negatives(let i): return "negatives item \(i)"
        }
    }

    /// Sets `"score"` on every passage (replacing one already there):
    /// `scores[g][p]` for `groups[g].passages[p]`.
    public mutating func setScores(_ scores: [[Double]]) throws {
        precondition(scores.count == groups.count && zip(scores, groups).allSatisfy { $0.count == $1.passages.count },
                     "one score per passage")
        let position = Dictionary(uniqueKeysWithValues: lines.enumerated().map { ($1.number, $0) })
        for (group, groupScores) in zip(groups, scores) {
            for (passage, score) in zip(group.passages, groupScores) {
                guard score.isFinite else {
                    throw SynthesisError.corruptRecord(file: path, line: passage.line, reason: "the teacher scored \(Self.describe(passage.slot)) \(score)")
                }
                let i = position[passage.line]!
                let number = JSONValue.number("\(score)")
                switch passage.slot {
                case .line: lines[i].value = lines[i].value.setting("score", number)
                case .positives(let k): lines[i].value = lines[i].value.updating("positives", item: k) { $0.setting("score", number) }
                case .negatives(let k): lines[i].value = lines[i].value.updating("negatives", item: k) { $0.setting("score", number) }
                }
            }
        }
    }

    /// The file as JSON Lines, one compact object per line.
    public var text: String { lines.map { $0.value.compactText + "\n" }.joined() }

    /// Writes `text` atomically (so `--out` may be the file that was read).
    public func write(to url: URL) throws {
        do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
            throw SynthesisError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}

extension JSONValue {
    /// The object with `key` set to `value` (in place when present, else appended).
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let i = members.lastIndex(where: { $0.key == key }) { members[i].value = value } else { members.append((key, value)) }
        return .object(members)
    }

    /// The object with item `index` of its array `key` transformed.
    func updating(_ key: String, item index: Int, _ transform: (JSONValue) -> JSONValue) -> JSONValue {
        guard case .array(var items)? = self[key], items.indices.contains(index) else { return self }
        items[index] = transform(items[index])
        return setting(key, .array(items))
    }
}

/// BM25 first-stage scores for a teacher's passages, from an index of a
/// collection's documents (a passage is the document its `documentID` names,
/// or else the document whose text it is) or of the passages themselves.
public struct TeacherBM25: Sendable {
    public let index: BM25Index
    /// What was indexed, for messages ("cranfield's 1400 documents").
    public let source: String
    let byID: [String: Int]
    let byText: [String: Int]
    /// Whether the index holds the file's own passages (each is its own document).
    let passagesOnly: Bool

    /// An index of a collection's documents: only the documents, never its queries or judgements.
    public init(documents: DocumentCollection, parameters: BM25Parameters = .init()) {
        index = BM25Index.build(documents: documents.documents, parameters: parameters)
        source = "the \(documents.documents.count) documents of \(documents.name) (\(documents.source))"
        var byID: [String: Int] = [:], byText: [String: Int] = [:]
        for (i, d) in documents.documents.enumerated() {
            if byID[d.id] == nil { byID[d.id] = i }
            if byText[d.contents] == nil { byText[d.contents] = i }
        }
        self.byID = byID
        self.byText = byText
        passagesOnly = false
    }

    /// An index of the file's distinct passages: BM25's statistics then come
    /// from the training passages, not a collection.
    public init(passagesOf file: TeacherFile, parameters: BM25Parameters = .init()) {
        var texts: [String] = [], byText: [String: Int] = [:]
        for group in file.groups {
            for p in group.passages where byText[p.text] == nil {
                byText[p.text] = texts.count
                texts.append(p.text)
            }
        }
        let all = texts
        index = BM25Index.build(count: all.count, parameters: parameters) { "\($0)" } text: { all[$0] }
        source = "the \(texts.count) distinct passages of \(file.path)"
        byID = [:]
        self.byText = byText
        passagesOnly = true
    }

    /// BM25 scores of a group's passages for its query.
    func scores(_ group: TeacherFile.Group, file: String) throws -> [Double] {
        let positions = try group.passages.map { p -> Int in
            if !passagesOnly, let id = p.documentID {
                guard let i = byID[id] else {
                    throw SynthesisError.corruptRecord(file: file, line: p.line, reason: "\(TeacherFile.describe(p.slot)): documentID \"\(id)\" is not one of \(source)")
                }
                return i
            }
            guard let i = byText[p.text] else {
                throw SynthesisError.corruptRecord(file: file, line: p.line,
                    reason: "\(TeacherFile.describe(p.slot)): its text is no document of \(source); give the passage's \"documentID\", or leave out --dataset to index the passages themselves")
            }
            return i
        }
        // The query alone, as the first stage searches (`BM25Index.search` of a query's text).
        return index.scores(group.query, positions: positions)
    }
}

/// A teacher's relevance score for every passage of a training file: a
/// reranker's (any strategy), that score fused with BM25's as `rerank --fuse`
/// fuses them (`ScoreFusion` over the query's passages), or BM25's alone.
public struct TeacherScorer: Sendable {
    public var reranker: (any Reranker)?
    public var fusion: ScoreFusion?
    public var bm25: TeacherBM25?

    /// `bm25` is needed for fusion and when there is no reranker, and only then.
    public init(reranker: (any Reranker)?, fusion: ScoreFusion?, bm25: TeacherBM25?) throws {
        guard reranker != nil || bm25 != nil else {
            throw SynthesisError.invalidParameter(name: "teacher", reason: "needs a reranker, BM25, or both fused")
        }
        if fusion != nil, reranker == nil || bm25 == nil {
            throw SynthesisError.invalidParameter(name: "fuse", reason: "fusion needs both a reranker and BM25")
        }
        self.reranker = reranker
        self.fusion = fusion
        self.bm25 = reranker == nil || fusion != nil ? bm25 : nil
    }

    /// Scores of each group's passages (`scores[g][p]`). `progress` gets
    /// (queries done, queries, passages done).
    public func scores(_ file: TeacherFile, progress: ((Int, Int, Int) -> Void)? = nil) async throws -> [[Double]] {
        var out: [[Double]] = [], passages = 0
        out.reserveCapacity(file.groups.count)
        for (g, group) in file.groups.enumerated() {
            let firstStage = try bm25?.scores(group, file: file.path)
            var scores: [Double]
            if let reranker {
                let candidates = group.passages.enumerated().map { Document(id: "\($0.offset)", text: $0.element.text) }
                let ranked = try await reranker.rerank(query: Query(id: "teacher-\(g)", text: group.query, instruction: group.instruction),
                                                       candidates: candidates)
                var results = ranked.results
                if let fusion, let firstStage { results = fusion.fuse(results, firstStage: firstStage) }
                scores = [Double](repeating: .nan, count: candidates.count)
                for r in results where r.index < scores.count { scores[r.index] = r.score }
            } else {
                scores = firstStage ?? []
            }
            out.append(scores)
            passages += group.passages.count
            progress?(g + 1, file.groups.count, passages)
        }
        return out
    }
}
