import Foundation

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
    public let layers: Int
    public let width: Int  // kvHeads * headDim
    public let capacity: Int
    /// Positions filled so far (the next token's position).
    public private(set) var count: Int = 0
    var keys: [[Float]]  // (layers)(capacity, width)
    var values: [[Float]]  // (layers)(capacity, width)

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.layers = layers
        self.width = kvHeads * headDim
        self.capacity = capacity
        keys = (0..<layers).map { _ in [Float](repeating: 0, count: capacity * kvHeads * headDim) }
        values = keys
    }

    /// Room for `n` more positions?
    public func canAppend(_ n: Int) -> Bool { count + n <= capacity }

    /// Copies n rows of keys/values (n, width) for `layer` at positions count..<count+n.
    /// The caller advances `count` once all layers are written (`commit`).
    mutating func write(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows n: Int) {
        let start = count * width
        keys[layer].withUnsafeMutableBufferPointer { (start + $0.baseAddress!).update(from: k, count: n * width) }
        values[layer].withUnsafeMutableBufferPointer { (start + $0.baseAddress!).update(from: v, count: n * width) }
    }

    mutating func commit(_ n: Int) { count += n }

    /// Forgets positions from `position` on (e.g. to re-run a shared prompt prefix
    /// with a different continuation).
    public mutating func truncate(to position: Int) {
        count = max(0, min(count, position))
    }

    /// Bytes held by the cache buffers.
    public var byteCount: Int { 2 * layers * capacity * width * MemoryLayout<Float>.size }
}
