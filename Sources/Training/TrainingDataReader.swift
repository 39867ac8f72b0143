import Foundation

/// Reads a JSON Lines training file into records, with every failure naming
/// `file:line` (`TrainingError.invalidData`): invalid UTF-8 or JSON, a missing
/// field, a field of the wrong type. Blank lines are skipped.
public struct TrainingDataReader: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    /// Every non-blank line decoded as `Record`, with its 1-based line number.
    public func records<Record: Decodable>(_: Record.Type) throws -> [(line: Int, record: Record)] {
        var out: [(line: Int, record: Record)] = []
        try forEachLine { line, text in
            out.append((line, try Self.decode(Record.self, text, file: url.path, line: line)))
        }
        return out
    }

    /// Calls `body` with each non-blank line and its 1-based number.
    public func forEachLine(_ body: (Int, String) throws -> Void) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TrainingError.invalidData(file: url.path, line: 0, reason: "cannot read: \(error.localizedDescription)")
        }
        var number = 0
        var bytes = data[...]
        while !bytes.isEmpty {
            number += 1
            let end = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
            var line = bytes[bytes.startIndex..<end]
            bytes = end < bytes.endIndex ? bytes[(end + 1)...] : bytes[end...]
            if line.last == 0x0D { line = line.dropLast() }
            if number == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw TrainingError.invalidData(file: url.path, line: number, reason: "not valid UTF-8")
            }
            if text.allSatisfy(\.isWhitespace) { continue }
            try body(number, text)
        }
    }

    /// Decodes one line, mapping decoding errors to `file:line: reason`.
    public static func decode<Record: Decodable>(_: Record.Type, _ text: String, file: String, line: Int) throws -> Record {
        do {
            return try JSONDecoder().decode(Record.self, from: Data(text.utf8))
        } catch let error as TrainingError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            let path = fieldPath(context.codingPath + [key])
            throw TrainingError.invalidData(file: file, line: line, reason: "missing field \"\(path)\"")
        } catch let DecodingError.valueNotFound(_, context) {
            throw TrainingError.invalidData(file: file, line: line, reason: "field \"\(fieldPath(context.codingPath))\" is null")
        } catch let DecodingError.typeMismatch(_, context) {
            if context.codingPath.isEmpty { throw TrainingError.invalidData(file: file, line: line, reason: "the record is not a JSON object") }
            throw TrainingError.invalidData(file: file, line: line, reason: "field \"\(fieldPath(context.codingPath))\" has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty {
                throw TrainingError.invalidData(file: file, line: line, reason: "not valid JSON")
            }
            throw TrainingError.invalidData(file: file, line: line, reason: "field \"\(fieldPath(context.codingPath))\": \(context.debugDescription)")
        } catch {
            throw TrainingError.invalidData(file: file, line: line, reason: "\(error)")
        }
    }

    /// "negatives[0].text", as the record spells it (not "negatives.Index 0.text").
    static func fieldPath(_ path: [CodingKey]) -> String {
        path.reduce(into: "") { out, key in
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
    }
}
