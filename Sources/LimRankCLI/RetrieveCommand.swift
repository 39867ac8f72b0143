import ArgumentParser
import Datasets
import Foundation

/// `limrank retrieve`: BM25 top-k for every query, written as a TREC run.
struct RetrieveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Retrieve the top documents for every query with BM25 and write a TREC run file.",
        discussion: """
            Each line of the run is `qid Q0 docid rank score tag`. Without --index the index \
            is built in memory first. For followir the run holds both instructions, as \
            query ids `<qid>-og` and `<qid>-changed`; for bright each query's excluded_ids are \
            left out.

            Example:
              limrank retrieve --dataset cranfield --data data/cranfield --index indexes/cranfield \\
                --top-k 100 --run-out runs/cranfield-bm25.txt
            """)

    @OptionGroup var datasetOptions: DatasetOptions
    @OptionGroup var bm25: BM25Options

    @Option(help: "Documents to retrieve per query.")
    var topK: Int = 100

    @Option(help: ArgumentHelp("Where to write the TREC run.", valueName: "file"))
    var runOut: String

    func validate() throws {
        guard topK > 0 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() async throws {
        let collection = try datasetOptions.load()
        let index = try bm25.index(for: collection)
        let run = await BM25Runs.run(index, collection: collection, topK: topK)
        try TRECFormat.writeRun(run, to: URL(fileURLWithPath: runOut))
        Log.write("wrote \(runOut)")
    }
}
