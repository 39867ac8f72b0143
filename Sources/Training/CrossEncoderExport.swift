import Foundation
import ModelFormats
import Tensor

/// Writes a trained cross-encoder as a Hugging Face
/// `BertForSequenceClassification` directory (what sentence-transformers'
/// `CrossEncoder(dir)` and `limrank --reranker cross-encoder --model DIR`
/// load): config.json, model.safetensors under transformers' key names, and
/// the base model's tokenizer files.
public enum CrossEncoderExport {
    /// Tokenizer files copied from the base model when present.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

    public static func write(_ model: BERTTraining, base: URL, to directory: URL, maxLength: Int? = nil) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.invalidParameter(name: "out", reason: "cannot create \(directory.path): \(error.localizedDescription)")
        }
        // config.json: the base's, turned into a one-label classifier (unknown keys kept).
        let baseConfig = base.appendingPathComponent("config.json")
        var config: [String: Any] = [:]
        if let data = fm.contents(atPath: baseConfig.path),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            config = object
        }
        config["architectures"] = ["BertForSequenceClassification"]
        config["num_labels"] = 1
        config["id2label"] = ["0": "LABEL_0"]
        config["label2id"] = ["LABEL_0": 0]
        config["model_type"] = "bert"
        // sentence-transformers' CrossEncoder reads its activation from here; sigmoid is its default for one label.
        config["sentence_transformers"] = ["activation_fn": "torch.nn.modules.activation.Sigmoid"]
        config.removeValue(forKey: "_name_or_path")
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        do {
            try SafeTensorsWriter.writeAtomically(json, to: directory.appendingPathComponent("config.json"))
            let tensors = model.parameters.slots.map { s in
                (name: s.name, tensor: Tensor(shape: s.shape, data: Array(model.parameters.values[s.offset..<(s.offset + s.count)])))
            }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
            for name in tokenizerFiles {
                let src = base.appendingPathComponent(name), dst = directory.appendingPathComponent(name)
                guard fm.fileExists(atPath: src.path) else { continue }
                var data = try Data(contentsOf: src)
                if name == "tokenizer_config.json", let maxLength,
                   var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    object["model_max_length"] = maxLength
                    data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                }
                try SafeTensorsWriter.writeAtomically(data, to: dst)
            }
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.invalidParameter(name: "out", reason: "cannot write \(directory.path): \(error)")
        }
    }
}
