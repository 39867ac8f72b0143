import ArgumentParser
import Datasets
import Foundation
import RemoteModels

/// `limrank rerank`: rerank an existing first-stage run.
struct RerankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerank",
        abstract: "Rerank the top of a TREC run file with a neural reranker and write the new run.",
        discussion: """
            Reads the collection (for the documents' text and the queries), reranks the top \
            --depth candidates of every query in --run, keeps the rest below them in their \
            first-stage order, and writes a TREC run of the same length to --run-out. \
            Progress and documents/s go to stderr. Rankings are cached (see --cache), so \
            running the same command again costs nothing.

            Examples:
              limrank retrieve --dataset cranfield --data data/cranfield --top-k 100 --run-out bm25.trec
              limrank rerank --dataset cranfield --data data/cranfield --run bm25.trec \\
                  --reranker dense --depth 100 --run-out dense.trec
              limrank rerank ... --reranker pointwise --model smollm2 --depth 20 --run-out pointwise.trec
            """)

    @OptionGroup var datasetOptions: DatasetOptions
    @OptionGroup var rerankerOptions: RerankerOptions

    @Option(help: ArgumentHelp("The first-stage TREC run to rerank.", valueName: "file"))
    var run: String

    @Option(help: ArgumentHelp("Where to write the reranked TREC run.", valueName: "file"))
    var runOut: String

    func validate() throws {
        guard rerankerOptions.reranker != nil else { throw ValidationError("give --reranker (pointwise, cross-encoder, dense, prp, listwise or icr)") }
    }

    func run() async throws {
        let collection = try datasetOptions.load()
        let input = try TRECFormat.readRun(from: URL(fileURLWithPath: run), knownQueries: BM25Runs.runQueryIDs(collection))
        let monitor = RequestMonitor()
        guard let reranker = try rerankerOptions.make(brightSubset: datasetOptions.dataset == .bright ? datasetOptions.subset : nil,
                                                      monitor: monitor) else { return }
        let outcome = try await RerankDriver.rerank(input, collection: collection, reranker: reranker, depth: rerankerOptions.depth,
                                                    concurrency: rerankerOptions.concurrency, monitor: rerankerOptions.serverModel == nil ? nil : monitor,
                                                    fusion: rerankerOptions.fusion)
        try TRECFormat.writeRun(outcome.run, to: URL(fileURLWithPath: runOut))
        Log.write("wrote \(runOut) (\(String(format: "%.1f", outcome.docsPerSecond)) documents/s)")
    }
}
