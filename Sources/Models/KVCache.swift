import Foundation
import Tensor

/// Keys and values of every layer for the positions a decoder has already
/// seen, so each new token attends to them without recomputing them.
///
/// Per layer, keys and values are token-major, (capacity, kvHeads * headDim),
/// post-RoPE, so appending a prefill of n tokens is one contiguous copy and a
/// head's slice is a strided matrix sgemm reads directly.
/// The buffers are sized to `capacity` once (the prompt plus what will be
/// generated, never the whole context unless asked), because the cache is the
/// biggest allocation after the weights.
public struct KVCache: Sendable {
    /// How cached keys and values are stored.
    public enum Precision: String, Sendable, CaseIterable {
        /// Exact: what transformers keeps (the parity tests' setting).
        case float32 = "f32"
        /// IEEE halves, as llama.cpp's default cache: half the memory and
        /// half the bytes each decode step reads, at a relative rounding of
        /// 2^-11 on every cached value.
        case float16 = "f16"
    }

    public let layers: Int
    public let width: Int  // kvHeads * headDim
    public let capacity: Int
    public let precision: Precision
    /// Positions filled so far (the next token's position).
    public private(set) var count: Int = 0
    var keys: [[Float]]  // (layers)(capacity, width) with .float32, else empty
    var values: [[Float]]
    var halfKeys: [[UInt16]]  // (layers)(capacity, width) with .float16, else empty
    var halfValues: [[UInt16]]

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, precision: Precision = .float32) {
        self.layers = layers
        self.width = kvHeads * headDim
        self.capacity = capacity
        self.precision = precision
        let size = capacity * kvHeads * headDim
        switch precision {
        case .float32:
            keys = (0..<layers).map { _ in [Float](repeating: 0, count: size) }
            values = keys
            halfKeys = []
            halfValues = []
        case .float16:
            keys = []
            values = []
            halfKeys = (0..<layers).map { _ in [UInt16](repeating: 0, count: size) }
            halfValues = halfKeys
        }
    }

    /// Room for `n` more positions?
    public func canAppend(_ n: Int) -> Bool { count + n <= capacity }

    /// Copies n rows of keys/values (n, width) for `layer` at positions count..<count+n.
    /// The caller advances `count` once all layers are written (`commit`).
    mutating func write(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows n: Int) {
        let start = count * width
        switch precision {
        case .float32:
            keys[layer].withUnsafeMutableBufferPointer { (start + $0.baseAddress!).update(from: k, count: n * width) }
            values[layer].withUnsafeMutableBufferPointer { (start + $0.baseAddress!).update(from: v, count: n * width) }
        case .float16:
            halfKeys[layer].withUnsafeMutableBufferPointer { Kernels.toHalves(k, count: n * width, into: start + $0.baseAddress!) }
            halfValues[layer].withUnsafeMutableBufferPointer { Kernels.toHalves(v, count: n * width, into: start + $0.baseAddress!) }
        }
    }

    /// The first `rows` cached positions of `layer` as f32 (keys, values):
    /// the buffers themselves for an f32 cache, widened copies for f16 (the
    /// prefill's sgemm needs f32; the copy is small next to that product).
    func withFloatRows<R>(layer: Int, rows: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) throws -> R) rethrows -> R {
        switch precision {
        case .float32:
            return try keys[layer].withUnsafeBufferPointer { k in
                try values[layer].withUnsafeBufferPointer { v in try body(k.baseAddress!, v.baseAddress!) }
            }
        case .float16:
            var k = [Float](repeating: 0, count: max(1, rows * width)), v = k
            halfKeys[layer].withUnsafeBufferPointer { h in k.withUnsafeMutableBufferPointer { Kernels.fromHalves(h.baseAddress!, count: rows * width, into: $0.baseAddress!) } }
            halfValues[layer].withUnsafeBufferPointer { h in v.withUnsafeMutableBufferPointer { Kernels.fromHalves(h.baseAddress!, count: rows * width, into: $0.baseAddress!) } }
            return try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in try body(kp.baseAddress!, vp.baseAddress!) } }
        }
    }

    mutating func commit(_ n: Int) { count += n }

    /// A cache holding this one's first `positions` positions, with room for
    /// `capacity` (at least `positions`) in all.
    public func prefix(_ positions: Int, capacity: Int) -> KVCache {
        let n = max(0, min(positions, count))
        var out = KVCache(layers: layers, kvHeads: 1, headDim: width, capacity: max(capacity, n), precision: precision)
        for l in 0..<layers {
            switch precision {
            case .float32:
                out.keys[l].replaceSubrange(0..<(n * width), with: keys[l][0..<(n * width)])
                out.values[l].replaceSubrange(0..<(n * width), with: values[l][0..<(n * width)])
            case .float16:
                out.halfKeys[l].replaceSubrange(0..<(n * width), with: halfKeys[l][0..<(n * width)])
                out.halfValues[l].replaceSubrange(0..<(n * width), with: halfValues[l][0..<(n * width)])
            }
        }
        out.count = n
        return out
    }

    /// Forgets positions from `position` on (e.g. to re-run a shared prompt prefix
    /// with a different continuation).
    public mutating func truncate(to position: Int) {
        count = max(0, min(count, position))
    }

    /// Bytes held by the cache buffers.
    public var byteCount: Int { 2 * layers * capacity * width * (precision == .float32 ? 4 : 2) }
}
