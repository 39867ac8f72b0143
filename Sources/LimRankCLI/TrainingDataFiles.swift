import ArgumentParser
import Datasets
import Foundation
import Models
import Training

/// What `--data` names, read for a method: labelled pairs (cross-encoder) or
/// SFT records (lora).
enum TrainingDataFiles {
    /// Pairs from a JSON Lines file, or from a BEIR directory's train qrels.
    static func pairs(_ path: String) throws -> [CrossEncoderPair] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("--data \(path) does not exist")
        }
        guard isDirectory.boolValue else { return try CrossEncoderData.read(url) }
        // Evaluation collections must never reach training data.
        if url.standardizedFileURL.lastPathComponent.lowercased() == "cranfield" {
            throw ValidationError("--data \(path) is the Cranfield evaluation collection; its queries and qrels must not be trained on")
        }
        let qrels = url.appendingPathComponent("qrels/train.tsv")
        guard FileManager.default.fileExists(atPath: qrels.path) else {
            throw ValidationError("--data \(path) is a directory without qrels/train.tsv (a BEIR training split)")
        }
        let collection = try BEIRDataset.load(directory: url, split: "train")
        let documents = Dictionary(collection.documents.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var pairs: [CrossEncoderPair] = []
        for query in collection.queries {
            let text = PointwisePrompt.joinedQuery(query.text, instruction: query.instruction)
            for (docID, grade) in collection.qrels[query.id].sorted(by: { $0.key < $1.key }) {
                guard let doc = documents[docID] else { continue }
                pairs.append(CrossEncoderPair(query: text, passage: doc.contents, relevant: grade > 0, file: qrels.path, line: 0))
            }
        }
        guard !pairs.isEmpty else { throw TrainingError.emptyDataSet(file: qrels.path) }
        return pairs
    }

    /// SFT records from `--data`: LLaMA-Factory exports (Alpaca/ShareGPT, .json
    /// or .jsonl, whose targets carry the reasoning), or labelled pairs
    /// (examples.jsonl, pair lines, a BEIR train split) turned into LimRank's
    /// prompt with an empty reasoning.
    static func sftRecords(_ path: String) throws -> [SFTRecord] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationError("--data \(path) does not exist")
        }
        if !isDirectory.boolValue, isLLaMAFactoryExport(url) {
            let records = try SFTDataReader.read(url)
            guard !records.isEmpty else { throw TrainingError.emptyDataSet(file: url.path) }
            return records
        }
        return try pairs(path).map { SFTRecord(pair: $0) }
    }

    /// A .json file, or JSON Lines whose first record is ShareGPT (`conversations`)
    /// or Alpaca (`instruction` with `output`): synthesized examples carry an
    /// `instruction` too (FollowIR's), but never an `output`.
    static func isLLaMAFactoryExport(_ url: URL) -> Bool {
        if url.pathExtension.lowercased() == "json" { return true }
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = String(decoding: (try? handle.read(upToCount: 1 << 16)) ?? Data(), as: UTF8.self)
        guard let first = head.split(separator: "\n").first(where: { !$0.allSatisfy(\.isWhitespace) }),
              let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] else { return false }
        return object["conversations"] != nil || (object["instruction"] != nil && object["output"] != nil)
    }
}
