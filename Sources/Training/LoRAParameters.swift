import Foundation
import Models
import Tensor

/// The trainable side of a LoRA run: A and B of every adapted layer as
/// owned buffers (the optimiser updates them in place), plus gradient
/// buffers of the same shapes. Converts to and from `LoRAAdapter`, the
/// PEFT-file form.
public final class LoRAParameters: @unchecked Sendable {
    public struct Slot: Sendable {
        public var layer: Int
        public var target: LoRATarget
        public var inFeatures: Int, outFeatures: Int
        public var nameA: String, nameB: String
        public var a: FloatBuffer, b: FloatBuffer
    }

    public let configuration: LoRAConfiguration
    public let slots: [Slot]
    public let baseModel: String?
    /// slotIndex[layer][target] (nil when the target is not adapted).
    let slotIndex: [[LoRATarget: Int]]

    public init(_ adapter: LoRAAdapter, layers: Int) {
        configuration = adapter.configuration
        baseModel = adapter.baseModel
        slots = adapter.pairs.map { p in
            Slot(layer: p.layer, target: p.target, inFeatures: p.inFeatures, outFeatures: p.outFeatures,
                 nameA: p.keyA, nameB: p.keyB, a: FloatBuffer(p.a), b: FloatBuffer(p.b))
        }
        var index = [[LoRATarget: Int]](repeating: [:], count: layers)
        for (i, s) in slots.enumerated() where s.layer < layers { index[s.layer][s.target] = i }
        slotIndex = index
    }

    /// Zero-filled buffers shaped like the parameters (a gradient).
    init(zerosLike other: LoRAParameters) {
        configuration = other.configuration
        baseModel = other.baseModel
        slots = other.slots.map { s in
            var z = s
            z.a = FloatBuffer(count: s.a.count)
            z.b = FloatBuffer(count: s.b.count)
            return z
        }
        slotIndex = other.slotIndex
    }

    public func slot(layer: Int, target: LoRATarget) -> Slot? {
        slotIndex[layer][target].map { slots[$0] }
    }

    /// A zeroed gradient for these parameters.
    public func makeGradients() -> LoRAParameters { LoRAParameters(zerosLike: self) }

    public func zero() {
        for s in slots {
            s.a.zero()
            s.b.zero()
        }
    }

    /// Every buffer by PEFT key name (A then B per slot).
    public var namedBuffers: [(name: String, buffer: FloatBuffer)] {
        slots.flatMap { [($0.nameA, $0.a), ($0.nameB, $0.b)] }
    }

    /// Σ x² over every buffer (for the gradient norm).
    public var squaredNorm: Double {
        var s: Double = 0
        for (_, b) in namedBuffers { for i in 0..<b.count { s += Double(b.p[i]) * Double(b.p[i]) } }
        return s
    }

    /// Multiplies every buffer by `factor` (gradient clipping).
    public func scale(by factor: Float) {
        for (_, b) in namedBuffers { for i in 0..<b.count { b.p[i] *= factor } }
    }

    /// The PEFT-file form (copies).
    public var adapter: LoRAAdapter {
        LoRAAdapter(configuration: configuration, pairs: slots.map { s in
            LoRAPair(layer: s.layer, target: s.target, inFeatures: s.inFeatures, outFeatures: s.outFeatures,
                     a: s.a.array, b: s.b.array)
        }, baseModel: baseModel)
    }
}
