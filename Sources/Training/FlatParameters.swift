import Foundation
import Tensor

/// Trainable tensors laid out back to back in one buffer, by name: the
/// optimizer, gradient buffers and checkpoints address them as (offset,
/// count) slices, and a model can place tensors it multiplies together
/// (query, key and value weights) next to each other to use them as one.
public struct FlatParameters: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int
        /// Whether AdamW's weight decay applies (not to biases and LayerNorm weights).
        public var decay: Bool
    }

    public private(set) var slots: [Slot] = []
    private var index: [String: Int] = [:]
    public var values: [Float] = []

    public init() {}

    public var count: Int { values.count }
    public var names: [String] { slots.map(\.name) }

    /// Appends a tensor; `decay` defaults to the Trainer's grouping by name.
    public mutating func append(_ name: String, shape: [Int], values v: [Float], decay: Bool? = nil) {
        precondition(index[name] == nil, "parameter \(name) added twice")
        precondition(shape.reduce(1, *) == v.count, "parameter \(name): shape \(shape) for \(v.count) values")
        index[name] = slots.count
        slots.append(Slot(name: name, shape: shape, offset: values.count, count: v.count,
                          decay: decay ?? Self.decays(name)))
        values += v
    }

    /// transformers' Trainer (and sentence-transformers) exempt biases and
    /// LayerNorm weights from weight decay.
    public static func decays(_ name: String) -> Bool {
        !(name.hasSuffix("bias") || name.contains("LayerNorm") || name.contains("layer_norm") || name.hasSuffix("norm.weight"))
    }

    public func slot(_ name: String) -> Slot? { index[name].map { slots[$0] } }

    public func offset(_ name: String) -> Int {
        guard let i = index[name] else { preconditionFailure("no parameter \(name)") }
        return slots[i].offset
    }

    public func tensor(_ name: String) -> Tensor? {
        guard let s = slot(name) else { return nil }
        return Tensor(shape: s.shape, data: Array(values[s.offset..<(s.offset + s.count)]))
    }

    /// Every tensor by name (for checkpoints and exports).
    public var tensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: slots.map { s in
            (s.name, Tensor(shape: s.shape, data: Array(values[s.offset..<(s.offset + s.count)])))
        })
    }

    /// Replaces the values from named tensors (a checkpoint); every slot must be present with its shape.
    public mutating func load(_ tensors: [String: Tensor], file: String) throws {
        for s in slots {
            guard let t = tensors[s.name] else {
                throw TrainingError.invalidCheckpoint(path: file, reason: "parameter \(s.name) is missing")
            }
            guard t.shape == s.shape else {
                throw TrainingError.invalidCheckpoint(path: file, reason: "parameter \(s.name) has shape \(t.shape), the model \(s.shape)")
            }
            values.replaceSubrange(s.offset..<(s.offset + s.count), with: t.data)
        }
    }
}
