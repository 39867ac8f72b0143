import ArgumentParser
import Testing
@testable import LimRankCLI

/// One `--format` option: text|json everywhere; eval's old `table` still reads as text.
@Suite struct OutputFormatTests {
    @Test func tableIsReadAsTextAndOthersAreRefused() {
        #expect(OutputFormat(argument: "text") == .text)
        #expect(OutputFormat(argument: "table") == .text)
        #expect(OutputFormat(argument: "json") == .json)
        #expect(OutputFormat(argument: "xml") == nil)
        #expect(OutputFormat(argument: "JSON") == nil)
    }

    @Test func evalAndCompareTakeTheSharedOption() throws {
        let base = ["--dataset", "cranfield", "--data", "/nonexistent"]
        let eval = base + ["--retriever", "bm25"]
        #expect(try EvalCommand.parse(eval).format == .text)
        #expect(try EvalCommand.parse(eval + ["--format", "table"]).format == .text)
        #expect(try EvalCommand.parse(eval + ["--format", "json"]).format == .json)
        #expect(throws: (any Error).self) { try EvalCommand.parse(eval + ["--format", "csv"]) }
        #expect(try CompareCommand.parse(["a.run", "b.run"] + base + ["--format", "text"]).format == .text)
        #expect(try CompareCommand.parse(["a.run", "b.run"] + base + ["--format", "json"]).format == .json)
    }
}
