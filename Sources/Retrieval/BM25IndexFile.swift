import Foundation

/// The on-disk form of a `BM25Index`, little-endian, every section 8-byte aligned:
///
///     header (64 bytes)
///       0  magic "LRBM25IX"          8  version UInt32      12 header size UInt32
///       16 k1 Float64                24 b Float64
///       32 documents UInt64          40 terms UInt64        48 postings UInt64
///       56 payload bytes UInt64
///     payload
///       analyzer identifier          UInt32 length + UTF-8
///       document ids                 UInt64 offsets (documents + 1) + UTF-8 blob
///       document lengths             UInt32 (documents)
///       terms                        UInt64 starts (terms + 1) + UTF-16 arena
///       posting starts               UInt64 (terms + 1)
///       posting documents            UInt32 (postings)
///       posting frequencies          UInt32 (postings)
///     checksum UInt64 over header and payload
///
/// Raw statistics are stored, not scores: impacts are recomputed on load
/// (one pass), so the file does not depend on floating-point details.
enum BM25IndexFile {
    static let magic: [UInt8] = Array("LRBM25IX".utf8)
    static let version: UInt32 = 1
    static let headerSize = 64

    /// A 64-bit checksum over 8-byte words (FNV-style mixing, then a final
    /// avalanche); fast enough to verify hundreds of MB on every load.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = bytes.count / 8
        for w in 0..<words {
            let v = bytes.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)
            h = (h ^ v) &* 0x0000_0100_0000_01B3
            h ^= h >> 31
        }
        for i in (words * 8)..<bytes.count {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }
}

/// Appends little-endian values and aligned sections to a byte buffer.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Double) { append(value.bitPattern) }

    mutating func append<T: FixedWidthInteger>(array: [T]) {
        if T.self == UInt8.self || isLittleEndian {
            array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        } else {
            for v in array { append(v) }
        }
        pad()
    }

    mutating func pad() {
        while bytes.count % 8 != 0 { bytes.append(0) }
    }

    mutating func patch(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<8 { bytes[offset + i] = raw[i] }
        }
    }
}

private let isLittleEndian = 1.littleEndian == 1

/// Reads sections back, throwing `corruptIndex` naming the section on overrun.
private struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var offset: Int

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else {
            throw RetrievalError.corruptIndex(file: file, field: field, reason: "runs past the end of the payload")
        }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return v
    }

    mutating func readArray<T: FixedWidthInteger>(_: T.Type, count: Int, _ field: String) throws -> [T] {
        let size = MemoryLayout<T>.size
        guard count >= 0, count <= (bytes.count - offset) / size else {
            throw RetrievalError.corruptIndex(
                file: file, field: field, reason: "\(count) entries do not fit in the remaining \(bytes.count - offset) bytes")
        }
        let base = offset
        let out = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if isLittleEndian {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: bytes[base..<(base + count * size)]))
            } else {
                for i in 0..<count {
                    buffer[i] = T(littleEndian: bytes.loadUnaligned(fromByteOffset: base + i * size, as: T.self))
                }
            }
            initialized = count
        }
        offset += count * size
        align()
        return out
    }

    mutating func align() {
        offset = (offset + 7) & ~7
    }

    /// Checks that `offsets` rise from 0 to `end`.
    func requireMonotonic(_ offsets: [UInt64], end: Int, _ field: String) throws {
        guard offsets.first == 0, offsets.last == UInt64(end) else {
            throw RetrievalError.corruptIndex(file: file, field: field, reason: "offsets do not span 0..<\(end)")
        }
        for i in 1..<offsets.count where offsets[i] < offsets[i - 1] {
            throw RetrievalError.corruptIndex(file: file, field: field, reason: "offset \(i) decreases")
        }
    }
}

extension BM25Index {
    /// Writes the index in the versioned binary format (see `BM25IndexFile`),
    /// atomically: a reader never sees a half-written file.
    public func save(to url: URL) throws {
        var w = ByteWriter()
        w.bytes.reserveCapacity(BM25IndexFile.headerSize + postingCount * 8 + documentCount * 16 + vocabulary.arena.count * 2 + 1024)
        w.bytes.append(contentsOf: BM25IndexFile.magic)
        w.append(BM25IndexFile.version)
        w.append(UInt32(BM25IndexFile.headerSize))
        w.append(parameters.k1)
        w.append(parameters.b)
        w.append(UInt64(documentCount))
        w.append(UInt64(termCount))
        w.append(UInt64(postingCount))
        w.append(UInt64(0))  // payload size, patched below

        let analyzerID = Array(EnglishAnalyzer.identifier.utf8)
        w.append(UInt32(analyzerID.count))
        w.append(array: analyzerID)

        var idOffsets: [UInt64] = [0]
        idOffsets.reserveCapacity(documentCount + 1)
        var idBlob: [UInt8] = []
        for id in documentIDs {
            idBlob.append(contentsOf: id.utf8)
            idOffsets.append(UInt64(idBlob.count))
        }
        w.append(array: idOffsets)
        w.append(array: idBlob)
        w.append(array: documentLengths)
        w.append(array: vocabulary.starts.map { UInt64($0) })
        w.append(array: vocabulary.arena)
        w.append(array: postingStarts.map { UInt64($0) })
        w.append(array: postingDocuments)
        w.append(array: postingFrequencies)

        w.patch(UInt64(w.bytes.count - BM25IndexFile.headerSize), at: 56)
        let sum = w.bytes.withUnsafeBytes { BM25IndexFile.checksum($0) }
        w.append(sum)
        do {
            try Data(w.bytes).write(to: url, options: .atomic)
        } catch {
            throw RetrievalError.indexFileUnwritable(file: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads an index written by `save(to:)`. The file is memory-mapped,
    /// verified against its checksum and structurally checked, so a
    /// truncated, corrupt, old-version or foreign file fails with an error
    /// naming the file and what is wrong.
    public static func load(from url: URL) throws -> BM25Index {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw RetrievalError.indexFileUnreadable(file: file, reason: error.localizedDescription)
        }
        return try data.withUnsafeBytes { raw in try parse(raw, file: file) }
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, file: String) throws -> BM25Index {
        let headerSize = BM25IndexFile.headerSize
        guard raw.count >= 8, Array(raw[0..<8]) == BM25IndexFile.magic else {
            throw RetrievalError.notAnIndex(file: file)
        }
        guard raw.count >= headerSize + 8 else {
            throw RetrievalError.truncatedIndex(file: file, expectedBytes: headerSize + 8, actualBytes: raw.count)
        }
        var header = ByteReader(bytes: raw, file: file, offset: 8)
        let version = try header.read(UInt32.self, "header")
        guard version == BM25IndexFile.version else {
            throw RetrievalError.unsupportedIndexVersion(file: file, found: version, supported: BM25IndexFile.version)
        }
        let declaredHeader = try header.read(UInt32.self, "header")
        guard declaredHeader == UInt32(headerSize) else {
            throw RetrievalError.corruptIndex(file: file, field: "header", reason: "header size \(declaredHeader), expected \(headerSize)")
        }
        let k1 = Double(bitPattern: try header.read(UInt64.self, "header"))
        let b = Double(bitPattern: try header.read(UInt64.self, "header"))
        let documents = try header.read(UInt64.self, "header")
        let terms = try header.read(UInt64.self, "header")
        let postings = try header.read(UInt64.self, "header")
        let payload = try header.read(UInt64.self, "header")
        let limit = UInt64(Int.max / 16)
        guard documents < limit, terms < limit, postings < limit, payload < limit else {
            throw RetrievalError.corruptIndex(file: file, field: "header", reason: "implausible section sizes")
        }
        let expected = headerSize + Int(payload) + 8
        guard raw.count == expected else {
            throw RetrievalError.truncatedIndex(file: file, expectedBytes: expected, actualBytes: raw.count)
        }
        let body = UnsafeRawBufferPointer(rebasing: raw[0..<(headerSize + Int(payload))])
        let stored = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: headerSize + Int(payload), as: UInt64.self))
        let computed = BM25IndexFile.checksum(body)
        guard stored == computed else {
            throw RetrievalError.checksumMismatch(file: file, stored: stored, computed: computed)
        }
        guard k1.isFinite, k1 >= 0, b.isFinite, (0...1).contains(b) else {
            throw RetrievalError.corruptIndex(file: file, field: "parameters", reason: "k1 = \(k1), b = \(b)")
        }

        var r = ByteReader(bytes: body, file: file, offset: headerSize)
        let analyzerLength = Int(try r.read(UInt32.self, "analyzer identifier"))
        let analyzerBytes = try r.readArray(UInt8.self, count: analyzerLength, "analyzer identifier")
        let analyzerID = String(decoding: analyzerBytes, as: UTF8.self)
        guard analyzerID == EnglishAnalyzer.identifier else {
            throw RetrievalError.analyzerMismatch(file: file, found: analyzerID, expected: EnglishAnalyzer.identifier)
        }

        let n = Int(documents), v = Int(terms), p = Int(postings)
        let idOffsets = try r.readArray(UInt64.self, count: n + 1, "document id offsets")
        guard let blobLength = idOffsets.last, blobLength < UInt64(body.count) else {
            throw RetrievalError.corruptIndex(file: file, field: "document ids", reason: "blob length out of range")
        }
        let idBlob = try r.readArray(UInt8.self, count: Int(blobLength), "document ids")
        try r.requireMonotonic(idOffsets, end: idBlob.count, "document id offsets")
        var ids: [String] = []
        ids.reserveCapacity(n)
        for d in 0..<n {
            let slice = idBlob[Int(idOffsets[d])..<Int(idOffsets[d + 1])]
            guard let id = String(validating: slice, as: UTF8.self) else {
                throw RetrievalError.corruptIndex(file: file, field: "document ids", reason: "document \(d) id is not valid UTF-8")
            }
            ids.append(id)
        }
        let lengths = try r.readArray(UInt32.self, count: n, "document lengths")
        let termStarts = try r.readArray(UInt64.self, count: v + 1, "term offsets")
        guard let arenaLength = termStarts.last, arenaLength < UInt64(body.count) else {
            throw RetrievalError.corruptIndex(file: file, field: "terms", reason: "arena length out of range")
        }
        let arena = try r.readArray(UInt16.self, count: Int(arenaLength), "terms")
        try r.requireMonotonic(termStarts, end: arena.count, "term offsets")
        let postingStarts = try r.readArray(UInt64.self, count: v + 1, "posting starts")
        try r.requireMonotonic(postingStarts, end: p, "posting starts")
        let postingDocuments = try r.readArray(UInt32.self, count: p, "posting documents")
        let postingFrequencies = try r.readArray(UInt32.self, count: p, "posting frequencies")
        guard r.offset == body.count else {
            throw RetrievalError.corruptIndex(file: file, field: "payload", reason: "\(body.count - r.offset) unexplained bytes after the last section")
        }
        if let bad = postingDocuments.firstIndex(where: { Int($0) >= n }) {
            throw RetrievalError.corruptIndex(file: file, field: "posting documents", reason: "posting \(bad) names document \(postingDocuments[bad]) of \(n)")
        }
        if let bad = postingFrequencies.firstIndex(of: 0) {
            throw RetrievalError.corruptIndex(file: file, field: "posting frequencies", reason: "posting \(bad) has frequency 0")
        }

        var vocabulary = TermTable(capacity: v)
        for t in 0..<v {
            let term = arena[Int(termStarts[t])..<Int(termStarts[t + 1])]
            guard vocabulary.intern(term) == t else {
                throw RetrievalError.corruptIndex(file: file, field: "terms", reason: "term \(t) is a duplicate")
            }
        }
        return BM25Index(
            parameters: BM25Parameters(k1: k1, b: b), documentIDs: ids, documentLengths: lengths,
            vocabulary: vocabulary, postingStarts: postingStarts.map { Int($0) },
            postingDocuments: postingDocuments, postingFrequencies: postingFrequencies)
    }
}
