import ArgumentParser
import Foundation
import Retrieval

/// `limrank index`: build the BM25 index of a collection once and save it.
struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build a collection's BM25 index and save it to a directory.",
        discussion: """
            Analyzes every document (title, then text) with a Lucene-compatible English analyzer \
            (standard tokenizer, lowercase, Lucene's stop words, Porter stemmer) and writes \
            DIR/bm25.index, which `retrieve` and `eval` load with --index DIR.

            Example:
              limrank index --dataset cranfield --data data/cranfield --index-out indexes/cranfield
            """)

    @OptionGroup var datasetOptions: DatasetOptions

    @Option(help: ArgumentHelp("Directory to write bm25.index into (created if missing).", valueName: "dir"))
    var indexOut: String

    @Option(help: "BM25 term-frequency saturation k1 (Anserini's default).")
    var k1: Double = 0.9

    @Option(help: "BM25 length normalisation b in [0, 1] (Anserini's default).")
    var b: Double = 0.4

    func validate() throws {
        try BM25Options.check(k1: k1, b: b)
    }

    func run() async throws {
        let collection = try datasetOptions.load()
        let index = IndexLocation.build(collection, parameters: BM25Parameters(k1: k1, b: b))
        let directory = URL(fileURLWithPath: indexOut)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create \(directory.path): \(error.localizedDescription)")
        }
        let file = IndexLocation.file(in: indexOut)
        try index.save(to: file)
        Log.write("saved \(file.path)")
    }
}
