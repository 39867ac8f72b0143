import Foundation

/// Streams a JSON Lines file, decoding one record per non-blank line.
struct JSONLines<Record: Decodable> {
    private var lines: TextLines
    private let decoder = JSONDecoder()
    var path: String { lines.path }
    var lineNumber: Int { lines.lineNumber }

    init(_ url: URL) throws { lines = try TextLines(url) }

    mutating func next() throws -> Record? {
        while let line = try lines.next() {
            if line.allSatisfy(\.isWhitespace) { continue }
            do {
                return try decoder.decode(Record.self, from: Data(line.utf8))
            } catch let DecodingError.keyNotFound(key, _) {
                throw DatasetError.missingField(file: path, line: lineNumber, field: key.stringValue)
            } catch let DecodingError.valueNotFound(_, context) {
                throw DatasetError.missingField(file: path, line: lineNumber, field: context.codingPath.map(\.stringValue).joined(separator: "."))
            } catch let DecodingError.typeMismatch(_, context) {
                let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw DatasetError.malformed(file: path, line: lineNumber, reason: "field \"\(field)\" has the wrong type")
            } catch {
                throw DatasetError.invalidJSON(file: path, line: lineNumber, reason: Self.summary(of: error))
            }
        }
        return nil
    }

    private static func summary(of error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription
        }
        return String(describing: error)
    }
}

/// An id that JSON exports write either as a string or as a number.
struct FlexibleID: Decodable, Hashable {
    var value: String

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            value = string
        } else if let integer = try? container.decode(Int.self) {
            value = String(integer)
        } else {
            throw DecodingError.typeMismatch(
                String.self, .init(codingPath: decoder.codingPath, debugDescription: "id must be a string or an integer"))
        }
    }
}
