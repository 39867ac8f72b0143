import Foundation
import ModelFormats
import Tensor

extension LoRAAdapter {
    /// Writes adapter_config.json and adapter_model.safetensors (PEFT's names) into `directory`.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let r = configuration.rank
        var tensors: [(name: String, tensor: Tensor)] = []
        for p in pairs {
            tensors.append((p.keyA, Tensor(shape: [r, p.inFeatures], data: p.a)))
            tensors.append((p.keyB, Tensor(shape: [p.outFeatures, r], data: p.b)))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(Self.weightsFileName))
        let pc = PEFTConfig(
            peftType: "LORA", r: r, loraAlpha: configuration.alpha, loraDropout: configuration.dropout,
            targetModules: configuration.targets.map(\.moduleName), useRslora: false, useDora: false,
            fanInFanOut: false, bias: "none", taskType: "CAUSAL_LM", baseModelNameOrPath: baseModel,
            inferenceMode: true, initLoraWeights: true, modulesToSave: nil, rankPattern: [:], alphaPattern: [:])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensorsWriter.writeAtomically(try encoder.encode(pc), to: directory.appendingPathComponent(Self.configFileName))
    }
}
