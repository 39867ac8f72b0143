import Foundation

/// An owned f32 buffer for activations, weights and gradients (zeroed unless
/// made `uninitialized`): a class so that tapes and weight tables can hand out raw
/// pointers without nesting `withUnsafe…` closures, freed on deinit.
/// Shared across threads only by the parallel kernels, which write disjoint
/// ranges (hence the unchecked Sendable); a weight table is never written
/// after construction.
public final class FloatBuffer: @unchecked Sendable {
    public let p: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        p = .allocate(capacity: max(1, count))
        p.initialize(repeating: 0, count: max(1, count))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { if let b = $0.baseAddress { p.update(from: b, count: values.count) } }
    }

    /// Left unwritten: for buffers the caller overwrites whole before reading
    /// (forward-pass activations), where zeroing would be a wasted pass.
    public init(uninitialized count: Int) {
        self.count = count
        p = .allocate(capacity: max(1, count))
    }

    /// A copy of `count` floats at `source`.
    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count)
        p.update(from: source, count: count)
    }

    deinit { p.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }

    public func zero() { p.update(repeating: 0, count: max(1, count)) }
}
