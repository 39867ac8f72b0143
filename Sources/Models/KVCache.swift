import Foundation
import Tensor

/// Keys and values of every layer for the positions a decoder has already
/// seen, so each new token attends to them without recomputing them.
///
/// Per layer, keys and values are token-major, (rows, kvHeads * headDim),
/// post-RoPE, so appending a prefill of n tokens is one contiguous copy and a
/// head's slice is a strided matrix sgemm reads directly.
/// A global layer's buffer is sized to `capacity` once (the prompt plus what
/// will be generated, never the whole context unless asked), because the
/// cache is the biggest allocation after the weights; its pages become
/// resident as positions are written.
///
/// A sliding-window layer (Gemma 3's local layers) never reads a position
/// more than `window` behind the newest, so it keeps only the last
/// `window + slidingSlack` positions, as llama.cpp's SWA cache does: when the
/// next tokens would not fit, the rows still visible to them move to the
/// buffer's front (one copy every `slidingSlack` tokens, not a ring, so rows
/// stay in position order and attention sums them in the order it always
/// did). On a long context that is 5/6 of Gemma 3's cache gone.
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

    /// Positions a sliding layer keeps beyond its window by default: a
    /// prefill chunk (`LlamaModel.prefillChunk`) fits without moving rows, and
    /// decoding moves the window's rows once every 256 tokens.
    public static let defaultSlidingSlack = 256

    public let layers: Int
    public let width: Int  // kvHeads * headDim
    public let capacity: Int
    public let precision: Precision
    /// Keys a sliding layer's query sees (its own position included); nil
    /// when no layer slides.
    public let window: Int?
    /// Which layers slide.
    public let slidingLayers: [Bool]
    public let slidingSlack: Int
    /// Positions filled so far (the next token's position).
    public private(set) var count: Int = 0
    /// Position of the sliding layers' first kept row: 0 until they first
    /// drop positions that no later token can see.
    public private(set) var slidingStart: Int = 0
    /// Global layers' (capacity) rows, then sliding layers' rows, each in
    /// its own buffer (the sliding one is replaced when it must grow).
    private var global: KVStorage
    private var sliding: KVStorage
    /// Each layer's index within its own buffer.
    private let slot: [Int]

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, precision: Precision = .float32,
                window: Int? = nil, slidingLayers: [Bool] = [], slidingSlack: Int = KVCache.defaultSlidingSlack) {
        precondition(window.map { $0 > 0 } ?? true, "a sliding window must be positive")
        let flags = Self.slidingFlags(layers: layers, window: window, slidingLayers: slidingLayers)
        self.layers = layers
        self.width = kvHeads * headDim
        self.capacity = capacity
        self.precision = precision
        self.window = flags.contains(true) ? window : nil
        self.slidingLayers = flags
        self.slidingSlack = max(1, slidingSlack)
        var globalCount = 0, slidingCount = 0
        slot = flags.map { isSliding in
            if isSliding { slidingCount += 1; return slidingCount - 1 }
            globalCount += 1
            return globalCount - 1
        }
        let rowBytes = width * precision.elementBytes
        global = KVStorage(layers: globalCount, rows: capacity, rowBytes: rowBytes)
        sliding = KVStorage(layers: slidingCount, rows: Self.slidingRows(capacity: capacity, window: self.window, slack: self.slidingSlack),
                            rowBytes: rowBytes)
    }

    /// Which of `layers` slide: none without a window, missing entries false.
    static func slidingFlags(layers: Int, window: Int?, slidingLayers: [Bool]) -> [Bool] {
        (0..<layers).map { window != nil && $0 < slidingLayers.count && slidingLayers[$0] }
    }

    /// Rows a sliding layer's buffer starts with: its window and slack, or
    /// the whole capacity when that is less.
    static func slidingRows(capacity: Int, window: Int?, slack: Int) -> Int {
        window.map { min(capacity, $0 + slack) } ?? 0
    }

    /// Bytes of a fresh cache's buffers (what `byteCount` will be unless a
    /// single pass of more than `slidingSlack` tokens makes the sliding
    /// layers grow).
    public static func bytes(layers: Int, kvHeads: Int, headDim: Int, positions: Int, precision: Precision,
                             window: Int?, slidingLayers: [Bool], slidingSlack: Int = defaultSlidingSlack) -> Int {
        let slidingCount = slidingFlags(layers: layers, window: window, slidingLayers: slidingLayers).filter { $0 }.count
        let rows = (layers - slidingCount) * positions
            + slidingCount * slidingRows(capacity: positions, window: window, slack: max(1, slidingSlack))
        return 2 * rows * kvHeads * headDim * precision.elementBytes
    }

    /// Room for `n` more positions?
    public func canAppend(_ n: Int) -> Bool { count + n <= capacity }

    /// The first position `layer` still holds.
    public func firstKept(layer: Int) -> Int { slidingLayers[layer] ? slidingStart : 0 }

    private func storage(_ layer: Int) -> KVStorage { slidingLayers[layer] ? sliding : global }

    /// Makes the sliding layers' buffers hold the next `n` positions beside
    /// the ones those positions can see; the forward pass calls it once
    /// before writing any layer. Global layers need nothing (`canAppend`).
    mutating func reserve(_ n: Int) {
        guard let window, sliding.layers > 0, (count - slidingStart) + n > sliding.rows else { return }
        // The first new position, `count`, sees count - window + 1 ... count.
        let keepFrom = max(slidingStart, count - window + 1)
        let kept = count - keepFrom
        let rows = max(sliding.rows, kept + n)
        if rows > sliding.rows || !isKnownUniquelyReferenced(&sliding) {
            let grown = KVStorage(layers: sliding.layers, rows: rows, rowBytes: sliding.rowBytes)
            sliding.moveRows(from: keepFrom - slidingStart, count: kept, to: grown)
            sliding = grown
        } else {
            sliding.moveRows(from: keepFrom - slidingStart, count: kept, to: sliding)
        }
        slidingStart = keepFrom
    }

    /// Copies n rows of keys/values (n, width) for `layer` at positions count..<count+n.
    /// The caller has reserved them (`reserve`) and advances `count` once all
    /// layers are written (`commit`).
    mutating func write(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows n: Int) {
        // A shared buffer (a copied cache) is copied first, its written rows only.
        if slidingLayers[layer] {
            if !isKnownUniquelyReferenced(&sliding) { sliding = sliding.copy(rows: count - slidingStart) }
        } else if !isKnownUniquelyReferenced(&global) {
            global = global.copy(rows: count)
        }
        let buffer = storage(layer)
        let row = count - firstKept(layer: layer)
        precondition(row + n <= buffer.rows, "KV cache: \(n) rows written without room (reserve first)")
        let keys = buffer.keys(slot[layer]), values = buffer.values(slot[layer])
        let start = row * width
        switch precision {
        case .float32:
            (keys.assumingMemoryBound(to: Float.self) + start).update(from: k, count: n * width)
            (values.assumingMemoryBound(to: Float.self) + start).update(from: v, count: n * width)
        case .float16:
            Kernels.toHalves(k, count: n * width, into: keys.assumingMemoryBound(to: UInt16.self) + start)
            Kernels.toHalves(v, count: n * width, into: values.assumingMemoryBound(to: UInt16.self) + start)
        }
    }

    /// `layer`'s keys and values as `T` (Float for an f32 cache, UInt16 IEEE
    /// half bits for f16), from position `from` (at least `firstKept`) on,
    /// `width` elements per position.
    func withRows<T, R>(layer: Int, from position: Int, as _: T.Type,
                        _ body: (UnsafePointer<T>, UnsafePointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == precision.elementBytes, "\(T.self) rows of a \(precision.rawValue) cache")
        let first = firstKept(layer: layer)
        precondition(position >= first, "position \(position) of layer \(layer) was dropped (the layer keeps \(first)...)")
        let buffer = storage(layer)
        let offset = (position - first) * width
        return try withExtendedLifetime(buffer) {
            try body(buffer.keys(slot[layer]).assumingMemoryBound(to: T.self) + offset,
                     buffer.values(slot[layer]).assumingMemoryBound(to: T.self) + offset)
        }
    }

    /// `rows` cached positions from `from` on of one key/value head of `layer`
    /// as f32 (keys, values, their row stride): the cache rows themselves for
    /// an f32 cache, a widened (rows, headDim) copy for f16 (the prefill's
    /// sgemm needs f32; one head at a time keeps the copy small).
    func withFloatRows<R>(layer: Int, from position: Int, rows: Int, head: Int, headDim D: Int,
                          _ body: (UnsafePointer<Float>, UnsafePointer<Float>, Int) throws -> R) rethrows -> R {
        switch precision {
        case .float32:
            return try withRows(layer: layer, from: position, as: Float.self) { k, v in try body(k + head * D, v + head * D, width) }
        case .float16:
            let k = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 2 * rows * D)), v = k + rows * D
            defer { k.deallocate() }
            withRows(layer: layer, from: position, as: UInt16.self) { hk, hv in
                for r in 0..<rows {
                    Kernels.fromHalves(hk + r * width + head * D, count: D, into: k + r * D)
                    Kernels.fromHalves(hv + r * width + head * D, count: D, into: v + r * D)
                }
            }
            return try body(k, v, D)
        }
    }

    mutating func commit(_ n: Int) { count += n }

    /// Whether the cache still holds what continuing after its first
    /// `positions` positions needs: a sliding layer's next query sees the
    /// `window - 1` positions before it, which may have been dropped.
    public func holdsPrefix(_ positions: Int) -> Bool {
        guard positions <= count else { return false }
        guard let window else { return true }
        return slidingStart <= max(0, positions - window + 1)
    }

    /// A cache holding this one's first `positions` positions, with room for
    /// `capacity` (at least `positions`) in all; nil when a sliding layer no
    /// longer holds them (`holdsPrefix`): recompute from the tokens then.
    public func prefix(_ positions: Int, capacity: Int) -> KVCache? {
        let n = max(0, min(positions, count))
        guard holdsPrefix(n) else { return nil }
        var out = KVCache(layers: layers, kvHeads: 1, headDim: width, capacity: max(capacity, n), precision: precision,
                          window: window, slidingLayers: slidingLayers, slidingSlack: slidingSlack)
        global.moveRows(from: 0, count: n, to: out.global)
        if let window, sliding.layers > 0 {
            // All of this cache's sliding rows below n when they fit, else only
            // those the next position sees.
            let keepFrom = n - slidingStart <= out.sliding.rows ? slidingStart : max(slidingStart, n - window + 1)
            if n - keepFrom > out.sliding.rows {
                out.sliding = KVStorage(layers: sliding.layers, rows: n - keepFrom, rowBytes: sliding.rowBytes)
            }
            sliding.moveRows(from: keepFrom - slidingStart, count: n - keepFrom, to: out.sliding)
            out.slidingStart = keepFrom
        }
        out.count = n
        return out
    }

    /// Forgets positions from `position` on (e.g. to re-run a shared prompt
    /// prefix with a different continuation). Throws, changing nothing, when
    /// a sliding layer no longer holds what the next position would see.
    public mutating func truncate(to position: Int) throws {
        let n = max(0, min(count, position))
        guard holdsPrefix(n) else {
            throw ModelsError.invalidInput("KV cache: cannot go back to position \(n); its sliding-window layers keep positions from \(slidingStart) on")
        }
        count = n
    }

    /// Bytes held by the cache buffers.
    public var byteCount: Int { global.byteCount + sliding.byteCount }
}

extension KVCache.Precision {
    var elementBytes: Int { self == .float32 ? 4 : 2 }
}

/// One buffer of per-layer keys and values, (layers)(keys, values)(rows,
/// rowBytes). Zeroed by `calloc`, so a large cache is fresh pages the kernel
/// maps on first write: resident memory grows with the positions actually
/// filled, not with the capacity reserved.
final class KVStorage: @unchecked Sendable {
    // Sendable: KVCache copies before writing to a shared buffer.
    let base: UnsafeMutableRawPointer
    let layers: Int, rows: Int, rowBytes: Int

    init(layers: Int, rows: Int, rowBytes: Int) {
        self.layers = layers
        self.rows = rows
        self.rowBytes = rowBytes
        let bytes = 2 * layers * rows * rowBytes
        guard let p = calloc(max(1, bytes), 1) else { fatalError("KV cache: cannot allocate \(bytes) bytes") }
        base = p
    }

    deinit { free(base) }

    var byteCount: Int { 2 * layers * rows * rowBytes }
    func keys(_ layer: Int) -> UnsafeMutableRawPointer { base + 2 * layer * rows * rowBytes }
    func values(_ layer: Int) -> UnsafeMutableRawPointer { keys(layer) + rows * rowBytes }

    /// Rows from..<from + n of every layer to rows 0..<n of `other` (which
    /// may be this buffer: the copy is a memmove).
    func moveRows(from: Int, count n: Int, to other: KVStorage) {
        guard n > 0 else { return }
        for l in 0..<layers {
            memmove(other.keys(l), keys(l) + from * rowBytes, n * rowBytes)
            memmove(other.values(l), values(l) + from * rowBytes, n * rowBytes)
        }
    }

    /// A buffer of the same shape holding this one's first `n` rows.
    func copy(rows n: Int) -> KVStorage {
        let out = KVStorage(layers: layers, rows: rows, rowBytes: rowBytes)
        moveRows(from: 0, count: n, to: out)
        return out
    }
}
