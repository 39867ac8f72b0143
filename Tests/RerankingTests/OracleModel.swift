import Foundation
import Datasets
import LanguageModels
@testable import Reranking

/// A stand-in language model whose judgements are known: every passage holds
/// a marker "grade=N" and the oracle prefers higher grades. It parses the
/// prompts the strategies render, so the tests exercise the real prompt
/// plumbing, not a shortcut around it.
struct OracleModel: LanguageModel {
    var identifier: String { "oracle" }
    /// Extra logit for "Passage A", to check that PRP cancels position bias.
    var positionBias: Double = 0
    /// Listwise answers in this style.
    var listwiseNoise: Bool = false

    static func grades(in text: String) -> [Int] {
        var found: [Int] = []
        var rest = Substring(text)
        while let r = rest.range(of: "grade=") {
            rest = rest[r.upperBound...]
            let digits = rest.prefix { $0.isNumber }
            if let n = Int(digits) { found.append(n) }
        }
        return found
    }

    func nextTokenLogProbabilities(for messages: [ChatMessage], assistantPrefix: String, candidates: [String]) async throws -> [Double?] {
        let user = messages.last { $0.role == .user }?.content ?? ""
        let g = Self.grades(in: user)
        if candidates == ["true", "false"] {
            // Pointwise: P(true) = sigmoid(grade - 1.5).
            let p = 1 / (1 + exp(-(Double(g[0]) - 1.5)))
            return [log(p), log(1 - p)]
        }
        // Pairwise: logit difference = grade difference + bias toward A.
        let d = Double(g[0] - g[1]) + positionBias
        let pA = 1 / (1 + exp(-d))
        return [log(pA), log(1 - pA)]
    }

    func generate(_ request: GenerationRequest) async throws -> String {
        let user = request.messages.last { $0.role == .user }?.content ?? ""
        // Listing lines look like "[k] ... grade=N ...".
        var graded: [(Int, Int)] = []
        for line in user.split(separator: "\n") where line.hasPrefix("[") {
            guard let close = line.firstIndex(of: "]"), let k = Int(line[line.index(after: line.startIndex)..<close]) else { continue }
            graded.append((k, Self.grades(in: String(line)).first ?? 0))
        }
        let ranked = graded.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
        if listwiseNoise {
            // Chatter, a duplicate, an invented id, and the last one left out.
            let shown = ranked.dropLast().map { "[\($0)]" }
            return "Sure! " + ([shown.first ?? "[1]"] + shown + ["[99]"]).joined(separator: " > ")
        }
        return ranked.map { "[\($0)]" }.joined(separator: " > ")
    }

    func truncate(_ text: String, maxTokens: Int) async throws -> String {
        String(text.split(separator: " ").prefix(maxTokens).joined(separator: " "))
    }
}

/// Candidates whose right order is known: grades given in a shuffled order.
func gradedCandidates(_ grades: [Int]) -> [Document] {
    grades.enumerated().map { Document(id: "d\($0.offset)", text: "passage \($0.offset) grade=\($0.element) about wings") }
}

func idealOrder(_ grades: [Int]) -> [String] {
    grades.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }.map { "d\($0.offset)" }
}
