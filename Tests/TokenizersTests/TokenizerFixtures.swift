import Foundation
import TestSupport
@testable import Tokenizers

/// The committed parity fixtures made by Scripts/fixtures/make_tokenizer_fixtures.py.
enum TokenizerFixtures {
    struct Strings: Decodable, Sendable {
        struct Pair: Decodable, Sendable {
            var a: String
            var b: String
            var max_length: Int
            var strategy: String
        }
        var seed: Int
        var texts: [String]
        var pairs: [Pair]
    }

    struct MiniLMIDs: Decodable, Sendable {
        struct PairResult: Decodable, Sendable {
            var ids: [Int]?
            var type_ids: [Int]?
            var error: String?
        }
        var single: [[Int]]
        var decoded: [String]
        var pairs: [PairResult]
    }

    struct SmolLM2IDs: Decodable, Sendable {
        var ids: [[Int]]
        var digits_ids: [String: [Int]]
        var qwen2_pre_ids: [[Int]]
    }

    static func url(_ name: String) throws -> URL {
        guard let base = Bundle.module.resourceURL else { throw TokenizerError.unreadableFile(path: name, reason: "no bundle") }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(name)))
    }

    // Loaded once per test run: decoding the fixtures is most of a debug test's time.
    static let strings: Result<Strings, any Error> = Result { try load(Strings.self, "tokenizer_strings.json") }
    static let minilmIDs: Result<MiniLMIDs, any Error> = Result { try load(MiniLMIDs.self, "minilm_ids.json") }
    static let smollm2IDs: Result<SmolLM2IDs, any Error> = Result { try load(SmolLM2IDs.self, "smollm2_ids.json") }
    static let minilm: Result<Tokenizer, any Error> = Result { try Tokenizer(tokenizerJSON: minilmJSON) }
    static let smollm2: Result<Tokenizer, any Error> = Result { try Tokenizer(tokenizerJSON: smollm2JSON) }
    static let smollm2Config: Result<TokenizerJSON, any Error> = Result {
        try TokenizerJSON.decode(Data(contentsOf: smollm2JSON), file: "tokenizer.json")
    }

    static var minilmJSON: URL { Assets.minilm.appendingPathComponent("tokenizer.json") }
    static var smollm2JSON: URL { (try? url("smollm2/tokenizer.json")) ?? URL(fileURLWithPath: "/nonexistent") }
}

/// Counts and describes differences between expected and actual id lists.
struct MismatchReport {
    var count = 0
    var examples: [String] = []

    mutating func check(_ label: @autoclosure () -> String, expected: [Int], actual: [Int]) {
        guard expected != actual else { return }
        count += 1
        if examples.count < 5 {
            let common = min(expected.count, actual.count)
            let at = (0..<common).first { expected[$0] != actual[$0] } ?? common
            examples.append("\(label()): first difference at \(at): expected \(Array(expected[at..<min(at + 6, expected.count)])) got \(Array(actual[at..<min(at + 6, actual.count)])) (lengths \(expected.count)/\(actual.count))")
        }
    }

    var summary: String { "\(count) mismatches" + (examples.isEmpty ? "" : ":\n" + examples.joined(separator: "\n")) }
}
