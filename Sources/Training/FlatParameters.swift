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

    /// One AdamW step over every slot from a gradient buffer of the same layout.
    public mutating func applyAdamW(_ optimizer: inout AdamW, gradients: [Float], learningRate: Float) {
        precondition(gradients.count == values.count, "gradient buffer does not match the parameters")
        optimizer.beginStep()
        let slots = self.slots
        values.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                for s in slots {
                    optimizer.update(s.name, parameter: p.baseAddress! + s.offset, gradient: g.baseAddress! + s.offset,
                                     count: s.count, learningRate: learningRate, decay: s.decay)
                }
            }
        }
    }
}

extension GradientAccumulator {
    /// torch's clip_grad_norm_ over a flat gradient buffer: returns the norm
    /// before clipping and scales by maxNorm / (norm + 1e-6) when that is < 1.
    @discardableResult
    public static func clipGlobalNorm(_ gradients: inout [Float], maxNorm: Float) -> Float {
        let norm = Float(sumOfSquares(gradients).squareRoot())
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            for i in gradients.indices { gradients[i] *= coefficient }
        }
        return norm
    }

    /// Σ v² in double, split over the workers with four-lane accumulators (a
    /// serial double sum over MiniLM's 22.7M gradients was 1.5% of a step).
    static func sumOfSquares(_ values: [Float]) -> Double {
        let parts = max(1, min(Parallel.threadCount, values.count >> 16))
        let partials = UnsafeMutablePointer<Double>.allocate(capacity: parts)
        defer { partials.deallocate() }
        let out = UncheckedDoublePointer(partials)
        values.withUnsafeBufferPointer { buffer in
            let base = UncheckedPointer(UnsafeMutablePointer(mutating: buffer.baseAddress!)), n = buffer.count
            Parallel.forEach(0..<parts, chunks: parts) { range in
                for part in range {
                    let lo = n * part / parts, hi = n * (part + 1) / parts
                    let p = base.pointer
                    var a0 = SIMD4<Double>(), a1 = SIMD4<Double>()
                    var i = lo
                    while i + 8 <= hi {
                        let v = SIMD8<Float>.load(p + i)
                        let x0 = SIMD4<Double>(v.lowHalf), x1 = SIMD4<Double>(v.highHalf)
                        a0 += x0 * x0
                        a1 += x1 * x1
                        i += 8
                    }
                    var s = (a0 + a1).sum()
                    while i < hi { s += Double(p[i]) * Double(p[i]); i += 1 }
                    out.pointer[part] = s
                }
            }
        }
        return (0..<parts).reduce(0.0) { $0 + partials[$1] }
    }
}

private struct UncheckedDoublePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>
    init(_ pointer: UnsafeMutablePointer<Double>) { self.pointer = pointer }
}
