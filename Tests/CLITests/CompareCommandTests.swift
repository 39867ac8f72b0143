import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import LimRankCLI
import Datasets
import Evaluation

@Suite struct CompareCommandTests {
    static let baseline = "1 Q0 2 1 3.0 a\n1 Q0 1 2 2.0 a\n2 Q0 4 1 1.0 a\n2 Q0 2 2 0.5 a\n3 Q0 4 1 1.0 a\n"
    /// Query 1 puts document 1 (grade 4) first; query 2 finds 2 first; query 3 as before.
    static let better = "1 Q0 1 1 3.0 b\n1 Q0 2 2 2.0 b\n2 Q0 2 1 1.0 b\n2 Q0 4 2 0.5 b\n3 Q0 4 1 1.0 b\n"

    func command(_ runs: [URL], _ extra: [String] = []) throws -> CompareCommand {
        try CompareCommand.parse(runs.map(\.path) + ["--dataset", "cranfield", "--data", Collections.path("cranfield")] + extra)
    }

    @Test func jsonCarriesMeansDeltasAndPValues() throws {
        let a = try temporaryFile("a.run", Self.baseline), b = try temporaryFile("b.run", Self.better)
        let comparison = try command([a, b], ["--metric", "mrr", "--rounds", "500"]).compare()
        let output = CompareCommand.output(comparison, names: ["a.run", "b.run"], dataset: "cranfield")
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(output)) as? [String: Any]
        let systems = try #require(encoded?["systems"] as? [[String: Any]])
        let mrr = try #require((systems.first?["metrics"] as? [String: Any])?["mrr"] as? [String: Any])
        // Query 1: rr 1 in both (document 2 is relevant too); query 2: 1/2 -> 1; query 3: 0 -> 0.
        #expect(mrr["wins"] as? Int == 1 && mrr["ties"] as? Int == 2 && mrr["losses"] as? Int == 0)
        #expect(abs((mrr["delta"] as? Double ?? 0) - 0.5 / 3) < 1e-12)
        for key in ["p_t", "p_t_holm", "p_randomization", "p_randomization_holm"] {
            let p = try #require(mrr[key] as? Double, "\(key)")
            #expect(p > 0 && p <= 1)
        }
        let deltas = try #require((systems.first?["per_query_delta"] as? [String: Any])?["mrr"] as? [String: Double])
        #expect(deltas == ["1": 0, "2": 0.5, "3": 0])
        let table = CompareCommand.table(comparison, names: ["a.run", "b.run"])
        #expect(table.contains("b.run") && table.contains("1/2/0"))
        let svg = CompareCommand.plotSVG(comparison, names: ["a.run", "b.run"], measure: .reciprocalRank)
        #expect(svg.hasPrefix("<svg") && svg.contains("b.run vs a.run") && svg.contains("<rect"))
    }

    /// The error names the file and line of a query the other run lacks.
    @Test func differentQuerySetsNameFileAndLine() throws {
        let a = try temporaryFile("a.run", Self.baseline)
        let b = try temporaryFile("short.run", "1 Q0 1 1 3.0 b\n1 Q0 2 2 2.0 b\n3 Q0 4 1 1.0 b\n")
        do {
            _ = try command([a, b]).compare()
            Issue.record("runs with different queries were compared")
        } catch {
            // Query 2 is in the baseline (first at line 3) and missing from short.run.
            #expect("\(error)".contains("\(a.path):3") && "\(error)".contains("short.run"))
        }
    }

    @Test func duplicateDocumentsNameFileAndLine() throws {
        let a = try temporaryFile("a.run", Self.baseline)
        let b = try temporaryFile("dup.run", "1 Q0 1 1 3.0 b\n1 Q0 1 2 2.0 b\n")
        do {
            _ = try command([a, b]).compare()
            Issue.record("a run naming a document twice was accepted")
        } catch {
            #expect("\(error)".contains("dup.run") && "\(error)".contains("2"))
        }
    }

    @Test func badArgumentsAreRejected() throws {
        let a = try temporaryFile("a.run", Self.baseline)
        #expect(throws: (any Error).self) { try command([a]) }
        #expect(throws: (any Error).self) { try command([a, a], ["--metric", "bogus"]) }
        #expect(throws: (any Error).self) { try command([a, a], ["--rounds", "0"]) }
    }
}
