import Foundation

/// Streams a text file line by line (LF or CRLF) in fixed-size chunks, so that
/// large corpora never sit in memory twice. Each line is validated as UTF-8.
struct TextLines {
    let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// 1-based number of the line `next()` returned last.
    private(set) var lineNumber = 0

    private static let chunkSize = 1 << 20

    init(_ url: URL) throws {
        path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DatasetError.missingFile(path: path)
        }
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw DatasetError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    mutating func next() throws -> String? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = try decode(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else {
                    try? handle.close()
                    return nil
                }
                let line = try decode(buffer[start...])
                start = buffer.count
                return line
            }
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: Self.chunkSize)
            } catch {
                throw DatasetError.unreadable(path: path, reason: error.localizedDescription)
            }
            buffer.removeFirst(start)
            start = 0
            if let chunk, !chunk.isEmpty {
                buffer.append(contentsOf: chunk)
            } else {
                atEnd = true
            }
        }
    }

    private mutating func decode(_ bytes: ArraySlice<UInt8>) throws -> String {
        lineNumber += 1
        var bytes = bytes
        if bytes.last == 0x0D { bytes = bytes.dropLast() }
        // A byte-order mark some Windows tools put at the start of a file.
        if lineNumber == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let line = String(validating: bytes, as: UTF8.self) else {
            throw DatasetError.invalidUTF8(file: path, line: lineNumber)
        }
        return line
    }
}
