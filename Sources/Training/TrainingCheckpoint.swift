import Foundation
import ModelFormats
import Tensor

/// Everything a run needs to continue after a crash as if it never stopped:
/// the trainable parameters, AdamW's moments and step, the data position
/// (randomness is drawn from streams of the run seed by step, so there is no
/// generator state to save), and free-form run facts (e.g. the options it was started with,
/// so a resume with different ones is refused).
///
/// On disk: one safetensors file. Tensors are `param.<name>`, `adam.m.<name>`
/// and `adam.v.<name>` (f32); `__metadata__["limrank.checkpoint"]` holds the
/// JSON `State`. It is written to a temporary file and renamed, so a `kill -9`
/// mid-write leaves the previous checkpoint intact.
public struct TrainingCheckpoint: Sendable {
    public struct State: Sendable, Codable, Equatable {
        public var formatVersion: Int
        /// Optimizer steps completed.
        public var step: Int
        public var optimizer: AdamW.Configuration
        public var dataOrder: DataOrder
        /// Parameter names in their model order.
        public var parameterOrder: [String]
        /// Run facts the resuming run checks against its own (options, data hash).
        public var run: [String: String]
        /// Losses logged so far (step, loss), so curves survive a resume.
        public var lossHistory: [Float]

        public init(step: Int, optimizer: AdamW.Configuration, dataOrder: DataOrder,
                    parameterOrder: [String], run: [String: String], lossHistory: [Float] = []) {
            formatVersion = TrainingCheckpoint.formatVersion
            self.step = step
            self.optimizer = optimizer
            self.dataOrder = dataOrder
            self.parameterOrder = parameterOrder
            self.run = run
            self.lossHistory = lossHistory
        }
    }

    public static let formatVersion = 1
    static let metadataKey = "limrank.checkpoint"

    public var state: State
    public var parameters: [String: Tensor]
    public var optimizer: AdamW

    public init(state: State, parameters: [String: Tensor], optimizer: AdamW) {
        self.state = state
        self.parameters = parameters
        self.optimizer = optimizer
    }

    /// Writes the checkpoint atomically to `url`.
    public func write(to url: URL) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for name in state.parameterOrder {
            guard let p = parameters[name] else {
                throw TrainingError.invalidCheckpoint(path: url.path, reason: "parameter \(name) is listed but absent")
            }
            tensors.append(("param." + name, p))
            if let m = optimizer.firstMoments[name], let v = optimizer.secondMoments[name] {
                tensors.append(("adam.m." + name, Tensor(shape: [m.count], data: m)))
                tensors.append(("adam.v." + name, Tensor(shape: [v.count], data: v)))
            }
        }
        let json: Data
        do {
            json = try JSONEncoder().encode(state)
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "cannot encode state: \(error)")
        }
        do {
            try SafeTensorsWriter.write(tensors, metadata: [Self.metadataKey: String(decoding: json, as: UTF8.self)], to: url)
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "cannot write: \(error)")
        }
    }

    /// Reads a checkpoint written by `write(to:)`.
    public init(contentsOf url: URL) throws {
        let file: SafeTensors
        do {
            file = try SafeTensors(contentsOf: url)
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "\(error)")
        }
        guard let text = file.metadata[Self.metadataKey] else {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "no \(Self.metadataKey) metadata: not a limrank training checkpoint")
        }
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: Data(text.utf8))
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "unreadable state: \(error)")
        }
        guard state.formatVersion == Self.formatVersion else {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "format version \(state.formatVersion), this build reads \(Self.formatVersion)")
        }
        var parameters: [String: Tensor] = [:], m: [String: [Float]] = [:], v: [String: [Float]] = [:]
        do {
            for name in state.parameterOrder {
                guard file.contains("param." + name) else {
                    throw TrainingError.invalidCheckpoint(path: url.path, reason: "parameter \(name) is missing")
                }
                parameters[name] = try file.tensor(named: "param." + name)
                if file.contains("adam.m." + name) {
                    m[name] = try file.tensor(named: "adam.m." + name).data
                    v[name] = try file.tensor(named: "adam.v." + name).data
                }
            }
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "\(error)")
        }
        self.state = state
        self.parameters = parameters
        do {
            optimizer = try AdamW(configuration: state.optimizer, step: state.step, firstMoments: m, secondMoments: v)
        } catch {
            throw TrainingError.invalidCheckpoint(path: url.path, reason: "\(error)")
        }
    }

    /// File name of the checkpoint after `step` optimizer steps.
    public static func fileName(step: Int) -> String { String(format: "checkpoint-%08d.safetensors", step) }

    /// The checkpoint with the most steps in `directory`, or nil when there is none.
    public static func latest(in directory: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let steps = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors") else { return nil }
            let digits = name.dropFirst("checkpoint-".count).dropLast(".safetensors".count)
            return Int(digits).map { ($0, name) }
        }
        return steps.max { $0.0 < $1.0 }.map { directory.appendingPathComponent($0.1) }
    }

    /// Deletes all but the newest `keep` checkpoints in `directory`.
    public static func prune(in directory: URL, keep: Int) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".safetensors") }.sorted()
        for name in names.dropLast(max(0, keep)) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }
}
