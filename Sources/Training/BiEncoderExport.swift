import Foundation
import ModelFormats
import Models
import Tensor

/// Writes a trained bi-encoder as a sentence-transformers directory (what
/// `SentenceTransformer(dir)` loads, and LimRank's one loader,
/// `SentenceTransformerDirectory`, reads for embed, the dense reranker,
/// serve and synthesize --embedder): `modules.json` (Transformer, Pooling,
/// Normalize when the base has it), `sentence_bert_config.json`,
/// `1_Pooling/config.json`, `2_Normalize/`, the BertModel's `config.json`
/// and `model.safetensors` (transformers' BertModel key names, the untrained
/// pooler included), and the base's tokenizer files.
public enum BiEncoderExport {
    /// The pipeline files copied from the base when it has them
    /// (sentence-transformers' own settings: prompts, similarity function).
    static let baseFiles = ["config_sentence_transformers.json"]

    public static func write(_ model: BiEncoderTraining, base: URL, to directory: URL, maxSequenceLength: Int) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: directory.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
            if model.sentence.normalize {
                try fm.createDirectory(at: directory.appendingPathComponent("2_Normalize"), withIntermediateDirectories: true)
            }
        } catch {
            throw TrainingError.invalidParameter(name: "out", reason: "cannot create \(directory.path): \(error.localizedDescription)")
        }
        func json(_ object: Any) throws -> Data {
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        }
        do {
            // config.json: the base's (unknown keys kept) as a plain BertModel.
            var config: [String: Any] = [:]
            if let data = fm.contents(atPath: base.appendingPathComponent("config.json").path),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                config = object
            }
            config["architectures"] = ["BertModel"]
            config["model_type"] = "bert"
            config.removeValue(forKey: "_name_or_path")
            try SafeTensorsWriter.writeAtomically(try json(config), to: directory.appendingPathComponent("config.json"))

            // Keys as BertModel.save_pretrained writes them: no "bert." prefix.
            func stripped(_ name: String) -> String {
                name.hasPrefix(BERTLayout.encoderPrefix) ? String(name.dropFirst(BERTLayout.encoderPrefix.count)) : name
            }
            let p = model.parameters
            var tensors = p.slots.map { s in
                (name: stripped(s.name), tensor: Tensor(shape: s.shape, data: Array(p.values[s.offset..<(s.offset + s.count)])))
            }
            tensors += model.untrained.map { (name: stripped($0.name), tensor: $0.tensor) }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))

            // The legacy spelling of modules and pooling: every sentence-transformers release reads it.
            var modules: [[String: Any]] = [
                ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
            ]
            if model.sentence.normalize {
                modules.append(["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"])
            }
            try SafeTensorsWriter.writeAtomically(try json(modules), to: directory.appendingPathComponent("modules.json"))
            var pooling: [String: Any] = ["word_embedding_dimension": model.configuration.hiddenSize, "include_prompt": model.sentence.pooling.includePrompt]
            for (key, mode) in SentenceTransformerPoolingMode.legacyKeys { pooling[key] = model.sentence.pooling.modes.contains(mode) }
            try SafeTensorsWriter.writeAtomically(try json(pooling), to: directory.appendingPathComponent("1_Pooling/config.json"))
            try SafeTensorsWriter.writeAtomically(try json(["max_seq_length": maxSequenceLength, "do_lower_case": false]),
                                                  to: directory.appendingPathComponent("sentence_bert_config.json"))

            for name in CrossEncoderExport.tokenizerFiles + baseFiles {
                let src = base.appendingPathComponent(name)
                guard fm.fileExists(atPath: src.path) else { continue }
                var data = try Data(contentsOf: src)
                if name == "tokenizer_config.json", var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    object["model_max_length"] = maxSequenceLength
                    data = try json(object)
                }
                try SafeTensorsWriter.writeAtomically(data, to: directory.appendingPathComponent(name))
            }
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.invalidParameter(name: "out", reason: "cannot write \(directory.path): \(error)")
        }
    }
}
