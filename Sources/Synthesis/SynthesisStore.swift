import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `checkpoint.json` holds: which items are done, and how long the
/// append-only files were when they were done. A resumed run cuts the files
/// back to these lengths, which drops both a torn last line and any record
/// whose item was not yet checkpointed (that item is simply redone, and being
/// seeded by its index, redone identically).
public struct SynthesisCheckpoint: Codable, Sendable, Hashable {
    public var formatVersion = 1
    /// Settings that change the output; a resumed run must match them.
    public var fingerprint: [String: String]
    public var completed: [Int]
    public var poolBytes: UInt64
    public var rejectedBytes: UInt64
    public var usage: SynthesisUsage
    public var finalized: Bool
}

/// The files of an output directory, written so that a `kill -9` at any
/// moment loses at most the items in flight:
///
/// - `pool.jsonl`: accepted items, appended and fsynced one line at a time;
/// - `rejected.jsonl`: rejected items, likewise;
/// - `checkpoint.json`: written to a temporary file, fsynced, renamed;
/// - `examples.jsonl`, `stats.json`: the final selection, written atomically.
public struct SynthesisStore: Sendable {
    public let directory: URL
    public var pool: URL { directory.appendingPathComponent("pool.jsonl") }
    public var rejected: URL { directory.appendingPathComponent("rejected.jsonl") }
    public var checkpoint: URL { directory.appendingPathComponent("checkpoint.json") }
    public var examples: URL { directory.appendingPathComponent("examples.jsonl") }
    public var stats: URL { directory.appendingPathComponent("stats.json") }

    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw SynthesisError.writeFailed(path: directory.path, reason: "cannot create the output directory: \(error.localizedDescription)")
        }
        guard access(directory.path, W_OK) == 0 else {
            throw SynthesisError.writeFailed(path: directory.path, reason: Self.errnoText())
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    public func loadCheckpoint() throws -> SynthesisCheckpoint? {
        guard FileManager.default.fileExists(atPath: checkpoint.path) else { return nil }
        do {
            return try JSONDecoder().decode(SynthesisCheckpoint.self, from: Data(contentsOf: checkpoint))
        } catch {
            throw SynthesisError.corruptRecord(file: checkpoint.path, line: 1, reason: "unreadable checkpoint: \(error)")
        }
    }

    /// Cuts `url` back to `length` bytes; a file shorter than that means the
    /// checkpoint and the data disagree, which fsync ordering rules out.
    public func truncate(_ url: URL, to length: UInt64) throws {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            // A run with nothing rejected (yet) still leaves both files, empty.
            if length == 0 {
                guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                    throw SynthesisError.writeFailed(path: url.path, reason: "cannot create the file")
                }
                return
            }
            throw SynthesisError.corruptRecord(file: url.path, line: 0, reason: "missing, but the checkpoint records \(length) bytes")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return }
        let size = UInt64(info.st_size)
        if size < length {
            throw SynthesisError.corruptRecord(file: url.path, line: 0, reason: "has \(size) bytes, but the checkpoint records \(length)")
        }
        if size > length, cTruncate(url.path, off_t(length)) != 0 {
            throw SynthesisError.writeFailed(path: url.path, reason: Self.errnoText())
        }
    }

    /// Appends `line` and a newline, fsyncs, and returns the file's new length.
    @discardableResult
    public func append(_ line: Data, to url: URL) throws -> UInt64 {
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SynthesisError.writeFailed(path: url.path, reason: Self.errnoText()) }
        defer { close(fd) }
        var bytes = line
        bytes.append(0x0A)
        try Self.writeAll(fd, bytes, path: url.path)
        guard fsync(fd) == 0 || errno == EINVAL else { throw SynthesisError.writeFailed(path: url.path, reason: Self.errnoText()) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw SynthesisError.writeFailed(path: url.path, reason: Self.errnoText()) }
        return UInt64(end)
    }

    /// Writes `data` to a temporary file beside `url`, fsyncs it, renames it
    /// over `url` and fsyncs the directory: readers see the old or the new
    /// content, never a mix.
    public func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SynthesisError.writeFailed(path: temporary.path, reason: Self.errnoText()) }
        do {
            try Self.writeAll(fd, data, path: temporary.path)
            guard fsync(fd) == 0 else { throw SynthesisError.writeFailed(path: temporary.path, reason: Self.errnoText()) }
        } catch {
            close(fd)
            unlink(temporary.path)
            throw error
        }
        close(fd)
        guard rename(temporary.path, url.path) == 0 else {
            let reason = Self.errnoText()
            unlink(temporary.path)
            throw SynthesisError.writeFailed(path: url.path, reason: reason)
        }
        let dirFD = open(url.deletingLastPathComponent().path, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SynthesisError.writeFailed(path: path, reason: errnoText())
                }
                offset += n
            }
        }
    }

    /// Decodes every line of a JSONL file this store wrote; a line that does
    /// not decode is an error naming file and line.
    public func readLines<T: Decodable>(_ type: T.Type, from url: URL) throws -> [T] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        return try Self.readJSONLines(type, from: url)
    }

    public static func readJSONLines<T: Decodable>(_ type: T.Type, from url: URL) throws -> [T] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SynthesisError.readFailed(path: url.path, reason: error.localizedDescription)
        }
        let decoder = JSONDecoder()
        var out: [T] = []
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                out.append(try decoder.decode(T.self, from: Data(line)))
            } catch {
                throw SynthesisError.corruptRecord(file: url.path, line: lineNumber, reason: ModelOutputParser.describe(error))
            }
        }
        return out
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// The C library's truncate(2), out of the way of `SynthesisStore.truncate`.
private func cTruncate(_ path: String, _ length: off_t) -> Int32 {
    #if canImport(Glibc)
    return Glibc.truncate(path, length)
    #else
    return Darwin.truncate(path, length)
    #endif
}
