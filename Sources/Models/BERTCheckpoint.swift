import Foundation
import Tensor

// TEMPORARY: a minimal F32-only safetensors reader so the BERT code can be
// tested before ModelFormats' reader lands; replaced by it.
struct BERTCheckpoint {
    let file: String
    private let data: Data
    private let entries: [String: (shape: [Int], range: Range<Int>, dtype: String)]

    init(url: URL) throws {
        file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelsError.missingFile(path: url.path)
        }
        self.data = data
        guard data.count >= 8 else { throw ModelsError.invalidConfiguration(file: file, reason: "truncated header") }
        var n: UInt64 = 0
        withUnsafeMutableBytes(of: &n) { data.copyBytes(to: $0.bindMemory(to: UInt8.self), from: 0..<8) }
        let headerLength = Int(UInt64(littleEndian: n))
        guard headerLength > 0, 8 + headerLength <= data.count,
              let json = try? JSONSerialization.jsonObject(with: data[8..<(8 + headerLength)]) as? [String: Any]
        else { throw ModelsError.invalidConfiguration(file: file, reason: "bad safetensors header") }
        var entries = [String: (shape: [Int], range: Range<Int>, dtype: String)]()
        for (name, value) in json where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelsError.invalidConfiguration(file: file, reason: "bad header entry \(name)") }
            let start = 8 + headerLength + offsets[0], end = 8 + headerLength + offsets[1]
            guard start <= end, end <= data.count else {
                throw ModelsError.invalidConfiguration(file: file, reason: "tensor \(name) runs past the end")
            }
            entries[name] = (shape, start..<end, dtype)
        }
        self.entries = entries
    }

    var names: [String] { entries.keys.sorted() }

    func tensor(_ name: String) throws -> Tensor? {
        guard let e = entries[name] else { return nil }
        guard e.dtype == "F32" else {
            throw ModelsError.unsupported(key: "dtype of \(name)", value: e.dtype, file: file)
        }
        let count = e.shape.reduce(1, *)
        guard count * 4 == e.range.count else {
            throw ModelsError.invalidConfiguration(file: file, reason: "tensor \(name): \(e.range.count) bytes for shape \(e.shape)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in _ = data.copyBytes(to: dst, from: e.range) }
        return Tensor(shape: e.shape, data: values)
    }
}

extension BERTModel {
    /// Loads `config.json` and `model.safetensors` from a model directory.
    public init(directory: URL) throws {
        let configuration = try BERTConfiguration.load(from: directory.appendingPathComponent("config.json"))
        let checkpoint = try BERTCheckpoint(url: directory.appendingPathComponent("model.safetensors"))
        try self.init(configuration: configuration, file: checkpoint.file, tensor: checkpoint.tensor)
    }
}
