import Foundation
import Testing

enum Fixture {
    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.resourceURL, "test bundle has no resources")
        return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// The lines of a tab-separated fixture, split into fields.
    static func tsv(_ name: String) throws -> [[Substring]] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        return text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
    }
}
