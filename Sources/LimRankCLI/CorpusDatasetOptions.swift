import ArgumentParser
import Datasets
import Foundation

/// `limrank synthesize --corpus`: the collection whose documents ground the
/// queries. Only a documents file can be named: the synthesiser's output is
/// training data, so it is never given the collection's queries or qrels.
struct CorpusDatasetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With --corpus: collection format (cranfield, smart, beir, bright, followir); only its documents are read.", valueName: "kind"))
    var dataset: DatasetKind?

    @Option(help: ArgumentHelp("With --corpus: directory of the collection (cranfield, beir, bright, followir).", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("With --corpus --dataset smart: the SMART documents file.", valueName: "file"))
    var docs: String?

    @Option(help: ArgumentHelp("With --corpus --dataset bright: the subset.", valueName: "name"))
    var subset: String?

    @Flag(help: "With --corpus --dataset bright: long_documents.jsonl.")
    var longDocuments = false

    func validate(corpus: Bool) throws {
        guard corpus else {
            if dataset != nil || data != nil || docs != nil || subset != nil || longDocuments {
                throw ValidationError("--dataset/--data/--docs/--subset are for --corpus")
            }
            return
        }
        guard let dataset else { throw ValidationError("--corpus needs --dataset (cranfield, smart, beir, bright, followir) and its documents") }
        if dataset == .smart {
            guard docs != nil else { throw ValidationError("--corpus --dataset smart needs --docs FILE") }
            if data != nil { throw ValidationError("--dataset smart takes --docs, not --data") }
        } else {
            guard data != nil else { throw ValidationError("--corpus --dataset \(dataset.rawValue) needs --data DIR") }
            if docs != nil { throw ValidationError("--docs is for --dataset smart") }
        }
        if dataset == .bright, subset == nil { throw ValidationError("--dataset bright needs --subset NAME") }
        if dataset != .bright, subset != nil || longDocuments { throw ValidationError("--subset and --long-documents are for --dataset bright") }
    }

    /// The documents, through the adapters' documents-only loaders.
    func loadDocuments() throws -> DocumentCollection {
        let url = { (path: String?) in URL(fileURLWithPath: path ?? ".") }
        let collection: DocumentCollection
        switch dataset ?? .cranfield {
        case .cranfield: collection = try CranfieldDataset.loadDocuments(directory: url(data))
        case .smart: collection = try SMARTDataset.loadDocuments(documents: url(docs))
        case .beir: collection = try BEIRDataset.loadDocuments(directory: url(data))
        case .bright: collection = try BRIGHTDataset.loadDocuments(directory: url(data), subset: subset ?? "", longDocuments: longDocuments)
        case .followir: collection = try FollowIRDataset.loadDocuments(directory: url(data))
        }
        for warning in collection.warnings { Log.write(warning.description) }
        return collection
    }
}
