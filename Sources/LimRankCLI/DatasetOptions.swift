import ArgumentParser
import Datasets
import Foundation

/// The collection adapters `--dataset` chooses between.
enum DatasetKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case cranfield, smart, beir, bright, followir
}

/// `--dataset` and the paths each adapter needs; shared by `index`,
/// `retrieve` and `eval`.
struct DatasetOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Collection format: cranfield, smart, beir, bright or followir.",
        discussion: """
            cranfield  --data DIR with cran.all.1400, cran.qry, cranqrel
            smart      --docs FILE --queries FILE --qrels FILE (SMART .I/.T/.W records)
            beir       --data DIR with corpus.jsonl, queries.jsonl, qrels/test.tsv
            bright     --data DIR --subset NAME with NAME/documents.jsonl, NAME/examples.jsonl
            followir   --data DIR with corpus.jsonl, queries.jsonl, qrels_og.tsv, qrels_changed.tsv
            See docs/datasets.md for the layouts.
            """))
    var dataset: DatasetKind

    @Option(help: ArgumentHelp("Directory holding the collection (cranfield, beir, bright, followir).", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("SMART documents file (smart only).", valueName: "file"))
    var docs: String?

    @Option(help: ArgumentHelp("SMART queries file (smart only).", valueName: "file"))
    var queries: String?

    @Option(help: ArgumentHelp("SMART qrels file, lines `qid docid ...` (smart only).", valueName: "file"))
    var qrels: String?

    @Option(help: ArgumentHelp("BRIGHT subset, e.g. biology, leetcode (bright only).", valueName: "name"))
    var subset: String?

    @Flag(help: "BRIGHT: use long_documents.jsonl and gold_ids_long (bright only).")
    var longDocuments = false

    @Option(help: ArgumentHelp("BEIR qrels split: reads qrels/<split>.tsv (beir only).", valueName: "split"))
    var split: String = "test"

    func validate() throws {
        let usesData: Set<DatasetKind> = [.cranfield, .beir, .bright, .followir]
        if usesData.contains(dataset) {
            guard data != nil else { throw ValidationError("--dataset \(dataset.rawValue) needs --data DIR") }
            if docs != nil || queries != nil || qrels != nil {
                throw ValidationError("--docs/--queries/--qrels are for --dataset smart; \(dataset.rawValue) reads its files from --data")
            }
        } else {
            guard docs != nil, queries != nil, qrels != nil else {
                throw ValidationError("--dataset smart needs --docs FILE --queries FILE --qrels FILE")
            }
            if data != nil { throw ValidationError("--dataset smart takes --docs/--queries/--qrels, not --data") }
        }
        if dataset == .bright, subset == nil {
            throw ValidationError("--dataset bright needs --subset NAME (a directory under --data)")
        }
        if dataset != .bright, subset != nil || longDocuments {
            throw ValidationError("--subset and --long-documents are for --dataset bright")
        }
        if dataset != .beir, split != "test" {
            throw ValidationError("--split is for --dataset beir")
        }
    }

    /// The name reported in `eval` output.
    var displayName: String {
        if dataset == .bright, let subset { return "bright/\(subset)" }
        return dataset.rawValue
    }

    /// Loads the collection and prints its warnings on stderr.
    func load() throws -> TestCollection {
        let url = { (path: String?) in URL(fileURLWithPath: path ?? ".") }
        let collection: TestCollection
        switch dataset {
        case .cranfield: collection = try CranfieldDataset.load(directory: url(data))
        case .smart: collection = try SMARTDataset.load(documents: url(docs), queries: url(queries), qrels: url(qrels))
        case .beir: collection = try BEIRDataset.load(directory: url(data), split: split)
        case .bright: collection = try BRIGHTDataset.load(directory: url(data), subset: subset ?? "", longDocuments: longDocuments)
        case .followir: collection = try FollowIRDataset.load(directory: url(data))
        }
        for warning in collection.warnings { Log.write(warning.description) }
        Log.write("\(displayName): \(collection.documents.count) documents, \(collection.queries.count) queries, "
            + "\(collection.qrels.judgements.count) judged queries")
        return collection
    }
}

/// Progress and warnings go to stderr, keeping stdout for results.
enum Log {
    static func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
