import Foundation
import Tensor

/// Keys and values of every layer for the positions a decoder has already
/// seen, so each new token attends to them without recomputing them.
///
/// Per layer, keys and values are token-major, (capacity, kvHeads * headDim),
/// post-RoPE, so appending a prefill of n tokens is one contiguous copy and a
/// head's slice is a strided matrix sgemm reads directly.
/// The buffer is sized to `capacity` once (the prompt plus what will be
/// generated, never the whole context unless asked), because the cache is the
/// biggest allocation after the weights; its pages become resident as
/// positions are written.
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
    /// (layers)(keys, values)(capacity, width) elements of `precision`.
    private var storage: KVStorage

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, precision: Precision = .float32) {
        self.layers = layers
        self.width = kvHeads * headDim
        self.capacity = capacity
        self.precision = precision
        storage = KVStorage(byteCount: 2 * layers * capacity * kvHeads * headDim * precision.elementBytes)
    }

    /// Room for `n` more positions?
    public func canAppend(_ n: Int) -> Bool { count + n <= capacity }

    /// Byte offset of `layer`'s keys; its values follow them.
    private func keysOffset(_ layer: Int) -> Int { 2 * layer * capacity * width * precision.elementBytes }
    private var valuesDistance: Int { capacity * width * precision.elementBytes }

    /// Copies n rows of keys/values (n, width) for `layer` at positions count..<count+n.
    /// The caller advances `count` once all layers are written (`commit`).
    mutating func write(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows n: Int) {
        // A shared buffer (a copied cache) is copied first, its written rows only.
        if !isKnownUniquelyReferenced(&storage) { storage = prefix(count, capacity: capacity).storage }
        let keys = storage.base + keysOffset(layer), values = keys + valuesDistance
        let start = count * width
        switch precision {
        case .float32:
            (keys.assumingMemoryBound(to: Float.self) + start).update(from: k, count: n * width)
            (values.assumingMemoryBound(to: Float.self) + start).update(from: v, count: n * width)
        case .float16:
            Kernels.toHalves(k, count: n * width, into: keys.assumingMemoryBound(to: UInt16.self) + start)
            Kernels.toHalves(v, count: n * width, into: values.assumingMemoryBound(to: UInt16.self) + start)
        }
    }

    /// `layer`'s (capacity, width) keys and values as `T`: Float for an f32
    /// cache, UInt16 (IEEE half bits) for f16.
    func withRows<T, R>(layer: Int, as _: T.Type, _ body: (UnsafePointer<T>, UnsafePointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == precision.elementBytes, "\(T.self) rows of a \(precision.rawValue) cache")
        let keys = storage.base + keysOffset(layer)
        return try withExtendedLifetime(storage) {
            try body(keys.assumingMemoryBound(to: T.self), (keys + valuesDistance).assumingMemoryBound(to: T.self))
        }
    }

    /// The first `rows` cached positions of one key/value head of `layer` as
    /// f32 (keys, values, their row stride): the cache rows themselves for an
    /// f32 cache, a widened (rows, headDim) copy for f16 (the prefill's sgemm
    /// needs f32; one head at a time keeps the copy small).
    func withFloatRows<R>(layer: Int, rows: Int, head: Int, headDim D: Int,
                          _ body: (UnsafePointer<Float>, UnsafePointer<Float>, Int) throws -> R) rethrows -> R {
        switch precision {
        case .float32:
            return try withRows(layer: layer, as: Float.self) { k, v in try body(k + head * D, v + head * D, width) }
        case .float16:
            let k = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 2 * rows * D)), v = k + rows * D
            defer { k.deallocate() }
            withRows(layer: layer, as: UInt16.self) { hk, hv in
                for r in 0..<rows {
                    Kernels.fromHalves(hk + r * width + head * D, count: D, into: k + r * D)
                    Kernels.fromHalves(hv + r * width + head * D, count: D, into: v + r * D)
                }
            }
            return try body(k, v, D)
        }
    }

    mutating func commit(_ n: Int) { count += n }

    /// A cache holding this one's first `positions` positions, with room for
    /// `capacity` (at least `positions`) in all.
    public func prefix(_ positions: Int, capacity: Int) -> KVCache {
        let n = max(0, min(positions, count))
        var out = KVCache(layers: layers, kvHeads: 1, headDim: width, capacity: max(capacity, n), precision: precision)
        let rowBytes = width * precision.elementBytes
        for l in 0..<layers {
            let from = storage.base + keysOffset(l), to = out.storage.base + out.keysOffset(l)
            to.copyMemory(from: from, byteCount: n * rowBytes)
            (to + out.valuesDistance).copyMemory(from: from + valuesDistance, byteCount: n * rowBytes)
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
    public var byteCount: Int { storage.byteCount }
}

extension KVCache.Precision {
    var elementBytes: Int { self == .float32 ? 4 : 2 }
}

/// The cache's one buffer. Zeroed by `calloc`, so a large cache is fresh
/// pages the kernel maps on first write: resident memory grows with the
/// positions actually filled, not with the capacity reserved.
final class KVStorage: @unchecked Sendable {
    // Sendable: KVCache copies before writing to a shared buffer.
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        guard let p = calloc(max(1, byteCount), 1) else { fatalError("KV cache: cannot allocate \(byteCount) bytes") }
        base = p
        self.byteCount = byteCount
    }

    deinit { free(base) }
}
