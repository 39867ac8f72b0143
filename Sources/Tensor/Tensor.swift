// Tensor: the numeric layer of LimRank's inference engine.
//
// API overview (where to find things):
//
//  Tensor.swift          `Tensor`: dense row-major f32 value (shape + [Float]).
//                        init(shape:data:), init(zeros:), init(shape:repeating:),
//                        subscript(i, j), rows(range) / row(i) (contiguous copies),
//                        reshaped, transposed2D, withUnsafe(Mutable)BufferPointer,
//                        add/sub/mul with numpy-style broadcasting (`+ - *`),
//                        scaled(by:), addRowVector, concat(rows:), maxAbsDifference.
//  BLAS.swift            `BLAS`: threads (LIMRANK_THREADS / cores), pointer-level
//                        `BLAS.sgemm`, `BLAS.sgemv`; `Tensor.linear(x, weight, bias)`
//                        ([n,in]·[out,in]ᵀ+b -> [n,out]), `Tensor.matmul(a, b, transposeB:)`,
//                        `Tensor.batchedMatmul(a [B,m,k], b [B,k,n] or [B,n,k] transposeB)`.
//                        Strided per-head products without copies: call `BLAS.sgemm`
//                        with lda = heads*headDim and base pointers offset per head.
//  Parallel.swift        `Parallel.forEach(range, chunks:) { subrange in }` and
//                        `Parallel.threadCount` (LIMRANK_THREADS or active cores).
//  Kernels.swift         `Kernels` (fast, SIMD) and `ReferenceKernels` (plain scalar):
//                        softmax rows with scale (mask `SoftmaxMask`: .none, .causal(offset:),
//                        .keys(validRange), or both; masked entries are exactly 0),
//                        layerNorm, rmsNorm(addOne:), gelu (erf), geluTanh, silu, siluMul (SwiGLU), exp,
//                        rope(positions:theta:layout:rotaryDim:, tokenStride for strided QKV)
//                        (`RoPELayout` .neox rotate_half / .interleaved GPT-J/llama.cpp),
//                        argmax, topK; Tensor.causalMask. Pointer-level in-place functions + `Tensor` wrappers.
//                        `Kernels.Tolerance` documents fast-vs-reference agreement.
//  GGMLType.swift        `GGMLType` (ggml type ids, block size, bytes per block).
//  GGMLQuants.swift      `GGMLQuants.dequantize(type, src, into:, count:)`: byte-exact
//                        (vs gguf Python) F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//                        Q8_1, Q4_K, Q5_K, Q6_K; row dots for decode.
//  QuantizedMatrix.swift `QuantizedMatrix` [rows=out, cols=in] over `ByteStorage`
//                        (mmap kept alive): dequantize(), dequantizeRows(_:into:),
//                        rows(range), gatherRows([ids]) (embeddings),
//                        apply(x [n, cols], bias:) -> [n, rows], or pointer-level
//                        apply(x, n:, into:, bias:) (n <= 2: row dots over cores;
//                        n > 2: 1 MiB dequantised tiles + sgemm; never the whole matrix).
//                        ReferenceKernels.quantizedApply is its scalar reference.
// ModelFormats (next target up): SafeTensors(contentsOf:).tensor(named:) -> Tensor;
//   GGUFFile(contentsOf:).metadata.string/int/float/bool/stringArray/intArray(...),
//   .tensor(named:) -> GGUFTensor (.type, .ne, .shape, .dequantized(), .quantizedMatrix()).
//  ByteStorage.swift     `ByteStorage`: immutable bytes, owned or memory-mapped.
//  TensorError.swift     `TensorError`, the target's one error enum.
//  SIMDMath.swift        internal SIMD8 helpers for kernels in this module: exp8, erf8,
//                        tanh8, map8, sum8, dot8, max8, loadF8/storeF8.
//
// Performance notes (measured, Swift 6.3 on x86-64 without -march flags):
//  - SIMD `clamped`, `pointwiseMin/Max`, `.rounded`, and SIMD int<->float
//    inits (`SIMD8<Int32>(x, rounding:)`) are scalarised: 5-30x slower than
//    arithmetic. Use compare + `replace(with:where:)` and bit tricks instead.
//  - `Float(Float16)` is a library call (~12 ns): use `halfBitsToFloat`.
//  - Kernels split rows with `Parallel.forEach` only above ~16K elements.

/// A dense, row-major, contiguous f32 tensor.
///
/// Storage is a Swift array, so copies are copy-on-write and a `Tensor` is a
/// plain `Sendable` value that can cross task boundaries freely. Row slices copy
/// (a memcpy); zero-copy access to a row or head goes through
/// `withUnsafeBufferPointer` and the pointer-level kernels, which take offsets
/// and leading dimensions.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public init(shape: [Int], repeating value: Float) {
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Builds a tensor by letting `body` fill freshly allocated storage.
    public init(shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = try [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            // Zero first so a throwing or partial `body` never exposes garbage.
            buf.initialize(repeating: 0)
            initialized = n
            try body(buf)
        }
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Row-major strides, in elements.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Size of the last dimension (1 for a scalar).
    public var lastDimension: Int { shape.last ?? 1 }
    /// Product of all but the last dimension: the number of "rows".
    public var rowCount: Int { lastDimension == 0 ? 0 : count / lastDimension }

    /// Same elements, new shape; the element count must agree.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    public subscript(_ i: Int, _ j: Int) -> Float {
        get { data[i * lastDimension + j] }
        set { data[i * lastDimension + j] = newValue }
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeMutableBufferPointer(body)
    }

    /// Rows `range` along the first dimension (a contiguous copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        var newShape = shape
        newShape[0] = range.count
        return Tensor(shape: newShape, data: Array(data[(range.lowerBound * inner)..<(range.upperBound * inner)]))
    }

    /// Row `i` along the first dimension, with that dimension dropped.
    public func row(_ i: Int) -> Tensor {
        let r = rows(i..<(i + 1))
        return r.reshaped(Array(shape.dropFirst()))
    }

    /// Gathers rows (along the first dimension) by index: embedding lookup.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        var out = [Float]()
        out.reserveCapacity(indices.count * inner)
        for i in indices {
            precondition(i >= 0 && i < shape[0], "row \(i) out of \(shape)")
            out.append(contentsOf: data[(i * inner)..<((i + 1) * inner)])
        }
        var newShape = shape
        newShape[0] = indices.count
        return Tensor(shape: newShape, data: out)
    }

    /// Concatenates tensors along the first dimension; inner shapes must agree.
    public static func concat(rows parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(zeros: [0]) }
        let inner = Array(first.shape.dropFirst())
        var out = [Float]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var n = 0
        for p in parts {
            precondition(Array(p.shape.dropFirst()) == inner, "concat: \(p.shape) vs \(first.shape)")
            out.append(contentsOf: p.data)
            n += p.shape[0]
        }
        return Tensor(shape: [n] + inner, data: out)
    }

    /// [m, n] -> [n, m].
    public func transposed2D() -> Tensor {
        precondition(rank == 2, "transposed2D needs rank 2, got \(shape)")
        let m = shape[0], n = shape[1]
        return Tensor(shape: [n, m]) { out in
            data.withUnsafeBufferPointer { src in
                // Blocked so both sides stay in cache for large matrices.
                let b = 32
                for i0 in stride(from: 0, to: m, by: b) {
                    for j0 in stride(from: 0, to: n, by: b) {
                        for i in i0..<min(i0 + b, m) {
                            for j in j0..<min(j0 + b, n) { out[j * m + i] = src[i * n + j] }
                        }
                    }
                }
            }
        }
    }

    /// Swaps the first two of three dimensions: [a, b, c] -> [b, a, c]
    /// (e.g. [seq, heads, headDim] -> [heads, seq, headDim]).
    public func swappingFirstTwoAxes() -> Tensor {
        precondition(rank == 3, "swappingFirstTwoAxes needs rank 3, got \(shape)")
        let a = shape[0], b = shape[1], c = shape[2]
        return Tensor(shape: [b, a, c]) { out in
            data.withUnsafeBufferPointer { src in
                for i in 0..<a {
                    for j in 0..<b {
                        let s = (i * b + j) * c, d = (j * a + i) * c
                        for k in 0..<c { out[d + k] = src[s + k] }
                    }
                }
            }
        }
    }

    public func scaled(by s: Float) -> Tensor {
        var t = self
        t.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= s } }
        return t
    }

    /// Adds a vector of length `lastDimension` to every row (bias add).
    public mutating func addRowVector(_ v: Tensor) {
        let n = lastDimension, rows = rowCount
        precondition(v.count == n, "addRowVector: \(v.shape) vs rows of \(shape)")
        data.withUnsafeMutableBufferPointer { p in
            v.data.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let base = p.baseAddress! + r * n
                    for j in 0..<n { base[j] += b[j] }
                }
            }
        }
    }

    /// Largest |a - b| over elements; shapes must agree.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "maxAbsDifference: \(shape) vs \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }

    // MARK: Broadcasting element-wise arithmetic

    /// numpy broadcasting of two shapes, or nil when they are incompatible.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Element-wise `op` with numpy broadcasting. Fast paths: equal shapes and a
    /// trailing-row operand (bias-like); otherwise a general strided walk.
    public static func broadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("cannot broadcast \(a.shape) with \(b.shape)")
        }
        if a.shape == b.shape {
            return Tensor(shape: shape) { out in
                a.data.withUnsafeBufferPointer { x in
                    b.data.withUnsafeBufferPointer { y in
                        for i in 0..<out.count { out[i] = op(x[i], y[i]) }
                    }
                }
            }
        }
        if a.shape == shape, b.count > 0, a.count % b.count == 0,
           Array(shape.suffix(b.shape.count)) == b.shape {
            let n = b.count
            return Tensor(shape: shape) { out in
                a.data.withUnsafeBufferPointer { x in
                    b.data.withUnsafeBufferPointer { y in
                        for i in 0..<out.count { out[i] = op(x[i], y[i % n]) }
                    }
                }
            }
        }
        let r = shape.count
        func stridesFor(_ s: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: r - s.count) + s
            var st = [Int](repeating: 0, count: r)
            var acc = 1
            for i in stride(from: r - 1, through: 0, by: -1) {
                st[i] = padded[i] == 1 ? 0 : acc
                acc *= padded[i]
            }
            return st
        }
        let sa = stridesFor(a.shape), sb = stridesFor(b.shape)
        return Tensor(shape: shape) { out in
            var index = [Int](repeating: 0, count: r)
            for o in 0..<out.count {
                var ia = 0, ib = 0
                for d in 0..<r { ia += index[d] * sa[d]; ib += index[d] * sb[d] }
                out[o] = op(a.data[ia], b.data[ib])
                var d = r - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, +) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, -) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, *) }
}
