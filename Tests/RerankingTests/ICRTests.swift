import Testing
import Datasets
import LanguageModels
@testable import Reranking

/// A toy "model" over a whitespace vocabulary whose attention is known: the
/// query's tokens attend to earlier tokens that equal one of them (strength 1),
/// and every token pays a positional bias that grows towards the end of the
/// prompt, which calibration must remove.
struct LexicalAttentionModel: AttentionModel {
    var identifier: String { "lexical" }
    var promptPrefix: [Int] { [0] }
    var contextLength: Int { 4096 }
    var recencyBias: Float = 0.5

    func tokenize(_ text: String) throws -> [Int] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { word in
            word.lowercased().unicodeScalars.reduce(7) { ($0 &* 31 &+ Int($1.value)) % 100_003 } + 1
        }
    }

    func attentionReceived(prefix: [Int], suffixes: [[Int]]) async throws -> [[Float]] {
        suffixes.map { suffix in
            var received = [Float](repeating: 0, count: prefix.count)
            for q in suffix {
                for k in prefix.indices {
                    let match: Float = prefix[k] == q ? 1 : 0
                    received[k] += (match + recencyBias * Float(k) / Float(prefix.count)) / Float(suffix.count)
                }
            }
            return received
        }
    }
}

@Test func icrRanksByQueryAttentionAfterCalibration() async throws {
    let docs = [
        Document(id: "late-noise", text: "unrelated filler words only here"),
        Document(id: "best", text: "boundary layer transition swept wing"),
        Document(id: "some", text: "swept wing planform"),
        Document(id: "none", text: "heat transfer in pipes"),
        Document(id: "last-noise", text: "more filler text at the end"),
    ]
    let q = Query(id: "q", text: "boundary layer transition on a swept wing")
    let ranked = try await ICRReranker(model: LexicalAttentionModel()).rerank(query: q, candidates: docs)
    #expect(Array(ranked.results.map(\.documentID).prefix(2)) == ["best", "some"])
    #expect(ranked.results.count == docs.count)
}

@Test func calibrationRemovesPositionalBias() {
    // Two identical-content documents (tokens 1 and 3, content attention 0.5
    // each) over a positional bias that grows along the prompt. The
    // calibration pass (content-free query) sees the bias alone. Without
    // calibration the later one wins on bias alone; with it they tie at
    // their content attention. Values are exact in binary.
    let bias: [Float] = [0, 0.125, 0.25, 0.375, 0.5]
    let content: [Float] = [0, 0.5, 0, 0.5, 0]
    let attention = zip(bias, content).map { $0 + $1 }
    let spans = [1..<2, 3..<4]
    let uncalibrated = ICRScoring.scores(attention: attention, calibration: [Float](repeating: 0, count: 5), spans: spans)
    #expect(uncalibrated == [0.625, 0.875])
    #expect(ICRScoring.scores(attention: attention, calibration: bias, spans: spans) == [0.5, 0.5])
}

@Test func icrRejectsPromptsOverTheContext() async throws {
    struct Tiny: AttentionModel {
        var identifier: String { "tiny" }
        var promptPrefix: [Int] { [] }
        var contextLength: Int { 8 }
        func tokenize(_ text: String) throws -> [Int] { text.split(separator: " ").map { _ in 1 } }
        func attentionReceived(prefix: [Int], suffixes: [[Int]]) async throws -> [[Float]] { [] }
    }
    let docs = [Document(id: "a", text: "one two three four five six seven eight nine")]
    await #expect(throws: RerankingError.self) {
        try await ICRReranker(model: Tiny()).rerank(query: Query(id: "q", text: "x"), candidates: docs)
    }
}
