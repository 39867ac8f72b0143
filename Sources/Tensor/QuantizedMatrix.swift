/// A weight matrix [rows = out features, cols = in features] kept in its ggml
/// encoding (any supported `GGMLType`, F32 included), usually pointing into a
/// memory-mapped GGUF file that it keeps alive.
///
/// `apply` multiplies without ever materialising the whole f32 matrix: decode
/// (one activation row) dots every quantised row directly; prefill
/// dequantises row tiles into a small scratch buffer and runs sgemm on them.
/// By default all arithmetic is f32 on dequantised weights, so results match
/// transformers' dequantised-GGUF path; `ActivationPrecision.int8` opts decode
/// into llama.cpp's 8-bit-activation arithmetic.
public struct QuantizedMatrix: Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let storage: ByteStorage
    /// Byte offset of row 0 inside `storage`.
    public let offset: Int
    public let rowBytes: Int
    /// Rows are in `InterleavedQuants`' layout instead of ggml's blocks.
    public let isInterleaved: Bool

    /// Validates that `storage` holds rows × cols elements of `type` at `offset`.
    /// `name` says which tensor in errors.
    public init(type: GGMLType, rows: Int, cols: Int, storage: ByteStorage, offset: Int, name: String = "matrix") throws(TensorError) {
        guard type.isSupported else { throw .unsupportedType(type, context: name) }
        guard rows >= 0, cols >= 0 else { throw .shapeMismatch("\(name): negative shape [\(rows), \(cols)]") }
        guard let rb = type.byteCount(elements: cols) else {
            throw .columnsNotBlockAligned(cols: cols, blockSize: type.blockSize, type: type, context: name)
        }
        let (need, overflow) = rb.multipliedReportingOverflow(by: rows)
        guard !overflow, offset >= 0, offset <= storage.count, need <= storage.count - offset else {
            throw .byteCountMismatch(expected: need, available: max(0, storage.count - offset), context: name)
        }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.offset = offset
        self.rowBytes = rb
        self.isInterleaved = false
    }

    private init(interleaving m: QuantizedMatrix, into storage: ByteStorage) {
        type = m.type
        rows = m.rows
        cols = m.cols
        self.storage = storage
        offset = 0
        rowBytes = m.rowBytes
        isInterleaved = true
    }

    private init(slicing m: QuantizedMatrix, rows range: Range<Int>) {
        type = m.type
        rows = range.count
        cols = m.cols
        storage = m.storage
        offset = m.offset + range.lowerBound * m.rowBytes
        rowBytes = m.rowBytes
        isInterleaved = m.isInterleaved
    }

    /// Rows `range` as a matrix of their own, sharing the bytes (rows are
    /// independent in every layout).
    public func rowSlice(_ range: Range<Int>) -> QuantizedMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of \(rows)")
        return QuantizedMatrix(slicing: self, rows: range)
    }

    /// Whether `interleaved()` has a faster decode layout for this matrix.
    public var canInterleave: Bool {
        guard !isInterleaved, let group = type.interleavedGroup else { return false }
        return cols % group == 0
    }

    /// The same weights re-laid out for the decode kernels (same byte size,
    /// bit-identical values); `self` when the type has no such layout.
    /// With `releasingSource`, the source pages of a memory-mapped file are
    /// dropped from memory afterwards, so resident memory holds one copy.
    public func interleaved(releasingSource: Bool = false) -> QuantizedMatrix {
        guard canInterleave else { return self }
        let out = ByteStorage(uninitializedCount: byteCount) { dst in
            let pd = UncheckedSendable(dst)
            // In slices of about 4 MiB, each slice's source pages dropped as
            // soon as it is copied: releasing only at the end kept both copies
            // resident at once, which set the peak memory of a whole run (Gemma
            // 3's 178 MB Q8_0 embedding: peak RSS 1.64x the GGUF).
            // The pages a slice shares with the next one stay until the end.
            let slice = max(64, (4 << 20) / max(1, rowBytes))
            for start in stride(from: 0, to: rows, by: slice) {
                let end = min(rows, start + slice)
                Parallel.forEach(start..<end, minimumChunk: 64) { range in
                    for r in range {
                        InterleavedQuants.interleave(type, rowPointer(r), into: pd.value + r * rowBytes, cols: cols)
                    }
                }
                if releasingSource {
                    storage.releaseResidentPages(offset: offset + start * rowBytes, count: (end - start) * rowBytes)
                }
            }
        }
        if releasingSource { storage.releaseResidentPages(offset: offset, count: byteCount) }
        return QuantizedMatrix(interleaving: self, into: out)
    }

    /// A matrix over its own copy of `bytes`.
    public init(type: GGMLType, rows: Int, cols: Int, bytes: [UInt8], name: String = "matrix") throws(TensorError) {
        try self.init(type: type, rows: rows, cols: cols, storage: ByteStorage(copying: bytes), offset: 0, name: name)
    }

    public var byteCount: Int { rows * rowBytes }

    @inline(__always)
    func rowPointer(_ r: Int) -> UnsafeRawPointer { storage.baseAddress + offset + r * rowBytes }

    /// Writes rows `range` as f32 into `out` ([range.count, cols]).
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of \(rows)")
        for (i, r) in range.enumerated() {
            if isInterleaved {
                InterleavedQuants.dequantize(type, rowPointer(r), into: out + i * cols, count: cols)
            } else {
                GGMLQuants.dequantize(type, rowPointer(r), into: out + i * cols, count: cols)
            }
        }
    }

    /// Rows `range` as an f32 tensor [range.count, cols] (embedding lookups).
    public func rows(_ range: Range<Int>) -> Tensor {
        Tensor(shape: [range.count, cols]) { dequantizeRows(range, into: $0.baseAddress!) }
    }

    /// Gathers rows by index as [indices.count, cols] (token embeddings).
    public func gatherRows(_ indices: [Int]) -> Tensor {
        Tensor(shape: [indices.count, cols]) { out in
            for (i, r) in indices.enumerated() { dequantizeRows(r..<(r + 1), into: out.baseAddress! + i * cols) }
        }
    }

    /// The whole matrix as f32 [rows, cols]. For small matrices and tests:
    /// models should call `apply` instead.
    public func dequantize() -> Tensor { rows(0..<rows) }

    /// Activation rows at or below this count use the direct row-dot kernel;
    /// above it, dequantised tiles + sgemm win.
    public static let gemmThreshold = 2

    /// Weight bytes a thread gets at least in a decode product. A decode step
    /// runs ~130 products of 0.1-1 MB (SmolLM2, Gemma 3 270M). While every
    /// split woke a sleeping worker, 256 KB beat 16 KB by 2-16%; with
    /// `Parallel`'s spinning workers a split costs little, and 16 KB gives
    /// 1.2-1.4x the decode tokens/s of 256 KB on 2 cores (8 KB and 32 KB within
    /// noise of 16 KB). Rows are independent, so results do not depend on it.
    static let decodeChunkBytes = 1 << 14

    /// Rows per decode chunk (see `decodeChunkBytes`).
    var decodeGrain: Int { max(1, Self.decodeChunkBytes / max(1, rowBytes)) }

    /// Floats per dequantised tile in the prefill path (1 MiB: stays in L2).
    static let tileElements = 1 << 18

    /// y[n, rows] = x[n, cols] · Wᵀ (+ bias[rows]); pointer level.
    /// `activations` chooses the decode arithmetic (n <= `gemmThreshold`);
    /// prefill is always f32.
    public func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil,
                      activations: ActivationPrecision = .float32) {
        guard n > 0, rows > 0 else { return }
        if cols == 0 {
            for i in 0..<n { for r in 0..<rows { y[i * rows + r] = bias?[r] ?? 0 } }
            return
        }
        if type == .f32 && n > Self.gemmThreshold {
            let w = UnsafeRawPointer(rowPointer(0)).assumingMemoryBound(to: Float.self)
            addBias(y, n: n, bias)
            BLAS.sgemm(transB: true, m: n, n: rows, k: cols, a: x, lda: cols, b: w, ldb: cols,
                       beta: bias == nil ? 0 : 1, c: y, ldc: rows)
            return
        }
        if n > Self.gemmThreshold {
            applyTiled(x, n: n, into: y, bias: bias)
        } else if activations != .int8 || !applyInt8(x, n: n, into: y, bias: bias) {
            applyRowDots(x, n: n, into: y, bias: bias, int8: false)
        }
    }

    /// Decode with 8-bit activations, any number of rows (each row's result
    /// is independent of the others): false, having done nothing, when this
    /// weight type has no integer kernel in this build.
    func applyInt8(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?) -> Bool {
        if !isInterleaved && type.hasKQuantInt8Kernel {
            applyKQuantInt8(x, n: n, into: y, bias: bias)
        } else if isInterleaved && (type == .q4_1 || type == .q8_0)
                    || InterleavedQuants.hasByteKernels && !isInterleaved && (type == .q4_0 || type == .q5_0) {
            applyRowDots(x, n: n, into: y, bias: bias, int8: true)
        } else {
            return false
        }
        return true
    }

    private func addBias(_ y: UnsafeMutablePointer<Float>, n: Int, _ bias: UnsafePointer<Float>?) {
        guard let bias else { return }
        for i in 0..<n { (y + i * rows).update(from: bias, count: rows) }
    }

    /// Decode: every weight row dotted with each of the n activation rows.
    /// With `int8` (interleaved Q4_1/Q8_0; ggml-layout Q4_0/Q5_0 where this
    /// build has the byte kernels) the activations are quantised once here and
    /// every dot is an integer one.
    private func applyRowDots(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>,
                              bias: UnsafePointer<Float>?, int8: Bool) {
        let blocks = cols / 32
        let needsSums = isInterleaved && type == .q4_1
        // Q4_1's offset term needs block sums of the activations: exact for
        // f32, of the rounded values for int8 (see `quantizeActivations`).
        // This build's byte kernels give the portable int8 kernels' results
        // bit for bit, faster; they read the activations as bytes.
        let bytes = int8 && InterleavedQuants.hasByteKernels
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: max(1, needsSums || int8 ? n * blocks : 0))
        let quantized = UnsafeMutablePointer<Int16>.allocate(capacity: max(1, int8 && !bytes ? n * cols : 0))
        let quantizedBytes = UnsafeMutablePointer<Int8>.allocate(capacity: max(1, bytes ? n * cols : 0))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(1, int8 ? n * blocks : 0))
        defer { sums.deallocate(); quantized.deallocate(); quantizedBytes.deallocate(); scales.deallocate() }
        let ps = UncheckedSendable(sums), pq = UncheckedSendable(quantized)
        let pqb = UncheckedSendable(quantizedBytes), pd = UncheckedSendable(scales)
        let py = UncheckedSendable(y), pb = UncheckedSendable(bias), px = UncheckedSendable(x)
        // Rows are rounded independently: several (a batched decode step's)
        // share the threads.
        Parallel.forEach(0..<n) { range in
            for i in range {
                if bytes {
                    InterleavedQuants.quantizeActivationBytes(
                        px.value + i * cols, cols: cols, for: type, interleaved: isInterleaved, into: pqb.value + i * cols,
                        scales: pd.value + i * blocks, sums: ps.value + i * blocks)
                } else if int8 {
                    InterleavedQuants.quantizeActivations(
                        px.value + i * cols, cols: cols, for: type, into: pq.value + i * cols,
                        scales: pd.value + i * blocks, sums: ps.value + i * blocks)
                } else if needsSums {
                    GGMLQuants.blockSums(px.value + i * cols, count: cols, into: ps.value + i * blocks)
                }
            }
        }
        // n dots per weight row: the same work per chunk as one row's.
        let grain = max(1, decodeGrain / n)
        Parallel.forEach(0..<rows, minimumChunk: grain) { range in
            #if LIMRANK_AVX2
            // Several rows of bytes: each weight row unpacked once for four of them.
            if bytes && n > 1 && isInterleaved {
                let out = UnsafeMutablePointer<Float>.allocate(capacity: n)
                defer { out.deallocate() }
                for r in range {
                    if type == .q4_1 {
                        InterleavedQuants.dotQ4_1BytesRows(rowPointer(r), pqb.value, pd.value, xSums: ps.value,
                                                           n: n, cols: cols, into: out)
                    } else {
                        InterleavedQuants.dotQ8_0BytesRows(rowPointer(r), pqb.value, pd.value, n: n, cols: cols, into: out)
                    }
                    for i in 0..<n { py.value[i * rows + r] = out[i] + (pb.value?[r] ?? 0) }
                }
                return
            }
            #endif
            // ggml-layout rows dequantise into scratch first.
            let scratch = isInterleaved
                ? nil : UnsafeMutablePointer<Float>.allocate(capacity: GGMLQuants.scratchElements(type, cols: cols))
            defer { scratch?.deallocate() }
            for r in range {
                let row = rowPointer(r)
                for i in 0..<n {
                    let v: Float
                    switch (int8, isInterleaved, type) {
                    #if LIMRANK_AVX2
                    case (true, _, .q4_1) where bytes:
                        v = InterleavedQuants.dotQ4_1Bytes(
                            row, pqb.value + i * cols, pd.value + i * blocks, cols: cols, xSums: ps.value + i * blocks)
                    case (true, false, _):
                        v = InterleavedQuants.dotQ4_0Q5_0Bytes(
                            row, highBits: type == .q5_0, pqb.value + i * cols, pd.value + i * blocks, cols: cols)
                    case (true, _, _) where bytes:
                        v = InterleavedQuants.dotQ8_0Bytes(row, pqb.value + i * cols, pd.value + i * blocks, cols: cols)
                    #endif
                    case (true, _, .q4_1):
                        v = InterleavedQuants.dotQ4_1Int8(
                            row, pq.value + i * cols, pd.value + i * blocks, cols: cols, xSums: ps.value + i * blocks)
                    case (true, _, _):
                        v = InterleavedQuants.dotQ8_0Int8(row, pq.value + i * cols, pd.value + i * blocks, cols: cols)
                    case (false, true, .q4_1):
                        v = InterleavedQuants.dotQ4_1(row, px.value + i * cols, cols: cols, xSums: ps.value + i * blocks)
                    case (false, true, _):
                        v = InterleavedQuants.dotQ8_0(row, px.value + i * cols, cols: cols)
                    case (false, false, _):
                        v = GGMLQuants.dot(type, row, px.value + i * cols, cols: cols, scratch: scratch!)
                    }
                    py.value[i * rows + r] = v + (pb.value?[r] ?? 0)
                }
            }
        }
    }

    /// Decode for Q4_K / Q5_K / Q6_K with 8-bit activations: the n rows are
    /// rounded to Q8_K once here, then every dot is `KQuants`' integer one.
    private func applyKQuantInt8(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>,
                                 bias: UnsafePointer<Float>?) {
        let blocks = cols / 256
        let quantized = UnsafeMutablePointer<Int16>.allocate(capacity: n * cols)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: n * blocks)
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: n * cols / 32)
        defer { quantized.deallocate(); scales.deallocate(); sums.deallocate() }
        for i in 0..<n {
            KQuants.quantizeActivations(x + i * cols, cols: cols, into: quantized + i * cols,
                                        scales: scales + i * blocks, sums: sums + i * cols / 32)
        }
        let py = UncheckedSendable(y), pb = UncheckedSendable(bias)
        let pq = UncheckedSendable(quantized), pd = UncheckedSendable(scales), ps = UncheckedSendable(sums)
        let grain = max(1, decodeGrain / n)
        Parallel.forEach(0..<rows, minimumChunk: grain) { range in
            for r in range {
                let row = rowPointer(r)
                for i in 0..<n {
                    let v = KQuants.dot(type, row, pq.value + i * cols, pd.value + i * blocks, ps.value + i * cols / 32, cols: cols)
                    py.value[i * rows + r] = v + (pb.value?[r] ?? 0)
                }
            }
        }
    }

    private func applyTiled(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?) {
        addBias(y, n: n, bias)
        let tileRows = max(1, min(rows, Self.tileElements / cols))
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * cols)
        defer { tile.deallocate() }
        let pt = UncheckedSendable(tile)
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tileRows)
            let base = r0
            Parallel.forEach(r0..<r1, minimumChunk: 8) { range in
                dequantizeRows(range, into: pt.value + (range.lowerBound - base) * cols)
            }
            BLAS.sgemm(transB: true, m: n, n: r1 - r0, k: cols, a: x, lda: cols, b: tile, ldb: cols,
                       beta: bias == nil ? 0 : 1, c: y + r0, ldc: rows)
            r0 = r1
        }
    }

    /// x [..., cols] -> [..., rows], optionally + bias [rows].
    public func apply(_ x: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(x.lastDimension == cols, "QuantizedMatrix.apply: x \(x.shape) vs [\(rows), \(cols)]")
        precondition(bias == nil || bias!.count == rows, "QuantizedMatrix.apply: bias \(bias!.shape) vs \(rows) rows")
        let n = x.rowCount
        var shape = x.shape
        shape[shape.count - 1] = rows
        return Tensor(shape: shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                if let bias {
                    bias.data.withUnsafeBufferPointer { apply(xp.baseAddress!, n: n, into: out.baseAddress!, bias: $0.baseAddress!) }
                } else {
                    apply(xp.baseAddress!, n: n, into: out.baseAddress!)
                }
            }
        }
    }
}

extension ReferenceKernels {
    /// y[n, rows] = x[n, cols] · dequantize(W)ᵀ, one dequantised row at a time
    /// with a double-precision dot: the reference for `QuantizedMatrix.apply`.
    public static func quantizedApply(_ w: QuantizedMatrix, _ x: Tensor) -> Tensor {
        let n = x.rowCount
        var out = [Float](repeating: 0, count: n * w.rows)
        var row = [Float](repeating: 0, count: w.cols)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.dequantizeRows(r..<(r + 1), into: $0.baseAddress!) }
            for i in 0..<n {
                var s: Double = 0
                for j in 0..<w.cols { s += Double(row[j]) * Double(x.data[i * w.cols + j]) }
                out[i * w.rows + r] = Float(s)
            }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [w.rows], data: out)
    }
}
