import CBLAS

/// Thin, typed wrappers over OpenBLAS sgemm/sgemv, plus the tensor-level
/// products the models use.
public enum BLAS {
    /// OpenBLAS runs single-threaded; `sgemm` splits large products over
    /// `Parallel`'s workers itself. With OpenBLAS's own pool as well, its
    /// idle threads spin (sched_yield) for ~2^28 cycles after each call and
    /// took the cores from the element-wise kernels between products: the
    /// MiniLM encoder lost ~15% to that (measured with perf).
    static let configured: Void = {
        openblas_set_num_threads(1)
    }()

    /// Threads OpenBLAS itself uses (1: parallelism comes from `Parallel`).
    public static var threadCount: Int {
        _ = configured
        return Int(openblas_get_num_threads())
    }

    /// The CPU kernels OpenBLAS chose ("Haswell", "SkylakeX", ...): its own
    /// detection, or `OPENBLAS_CORETYPE` from the environment, which forces
    /// them (on an AVX-512 CPU a forced "Haswell" halved sgemm: prefill speed
    /// depends on it, so benchmarks print it).
    public static var kernelName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Multiply-adds below which a product runs as one call: splitting costs
    /// a dispatch and smaller kernel blocks.
    static let parallelMultiplyAdds = 1 << 20

    /// Row-major C[m, n] = alpha * op(A) · op(B) + beta * C, where op(A) is
    /// [m, k] (A stored [k, m] when `transA`) and op(B) is [k, n] (B stored
    /// [n, k] when `transB`). Leading dimensions are row strides in elements,
    /// so a head inside a [seq, heads*headDim] buffer is (base + h*headDim,
    /// ld: heads*headDim) with no copy.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = configured
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS leaves C untouched when k == 0 only if beta == 1; make it explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        let opA = transA ? CblasTrans : CblasNoTrans, opB = transB ? CblasTrans : CblasNoTrans
        let parts = Parallel.threadCount
        guard parts > 1, m * n * k >= parallelMultiplyAdds, max(m, n) >= 2 * parts else {
            cblas_sgemm(CblasRowMajor, opA, opB, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // Disjoint blocks of C: rows when there are enough, else columns.
        let pa = UncheckedSendable(a), pb = UncheckedSendable(b), pc = UncheckedSendable(c)
        let splitRows = m >= n || m >= 8 * parts
        Parallel.forEach(0..<(splitRows ? m : n), chunks: parts) { range in
            let lo = range.lowerBound
            // Rows lo..< of op(A) and C, or columns lo..< of op(B) and C.
            let aBlock = splitRows ? (transA ? pa.value + lo : pa.value + lo * lda) : pa.value
            let bBlock = splitRows ? pb.value : (transB ? pb.value + lo * ldb : pb.value + lo)
            let cBlock = splitRows ? pc.value + lo * ldc : pc.value + lo
            cblas_sgemm(CblasRowMajor, opA, opB, Int32(splitRows ? range.count : m), Int32(splitRows ? n : range.count),
                        Int32(k), alpha, aBlock, Int32(lda), bBlock, Int32(ldb), beta, cBlock, Int32(ldc))
        }
    }

    /// y[m] = alpha * A[m, n] · x[n] + beta * y (A row-major, row stride lda;
    /// `transA` computes Aᵀ·x with A stored [m, n] and x of length m).
    public static func sgemv(
        transA: Bool = false, m: Int, n: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
        beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        _ = configured
        guard m > 0, n > 0 else { return }
        cblas_sgemv(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
            alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}

extension Tensor {
    /// y[n, out] = x[n, in] · weight[out, in]ᵀ + bias[out] (PyTorch nn.Linear
    /// weight layout). `x` may have any leading shape; its last dimension is `in`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let outF = weight.shape[0], inF = weight.shape[1]
        precondition(x.lastDimension == inF, "linear: x \(x.shape) vs weight \(weight.shape)")
        let n = x.rowCount
        var outShape = x.shape
        outShape[outShape.count - 1] = outF
        return Tensor(shape: outShape) { out in
            let o = out.baseAddress!
            if let bias {
                precondition(bias.count == outF, "linear: bias \(bias.shape) vs weight \(weight.shape)")
                bias.data.withUnsafeBufferPointer { b in
                    for r in 0..<n { (o + r * outF).update(from: b.baseAddress!, count: outF) }
                }
            }
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { wp in
                    BLAS.sgemm(
                        transB: true, m: n, n: outF, k: inF,
                        a: xp.baseAddress!, lda: inF, b: wp.baseAddress!, ldb: inF,
                        beta: bias == nil ? 0 : 1, c: o, ldc: outF)
                }
            }
        }
    }

    /// [m, k] · [k, n] -> [m, n] (or b given as [n, k] with `transposeB`).
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul: rank-2 operands, got \(a.shape), \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul: inner dimensions \(a.shape) vs \(b.shape)")
        return Tensor(shape: [m, n]) { out in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    BLAS.sgemm(
                        transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                        a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
                        c: out.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// Batched product over the first dimension: a [B, m, k] · b [B, k, n]
    /// -> [B, m, n]; with `transposeB`, b is [B, n, k] (attention's Q·Kᵀ).
    /// `alpha` scales the product (e.g. 1/sqrt(headDim)).
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false, alpha: Float = 1) -> Tensor {
        precondition(a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0],
                     "batchedMatmul: [B, m, k] operands, got \(a.shape), \(b.shape)")
        let batch = a.shape[0], m = a.shape[1], k = a.shape[2]
        let kb = transposeB ? b.shape[2] : b.shape[1]
        let n = transposeB ? b.shape[1] : b.shape[2]
        precondition(k == kb, "batchedMatmul: inner dimensions \(a.shape) vs \(b.shape)")
        return Tensor(shape: [batch, m, n]) { out in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    for i in 0..<batch {
                        BLAS.sgemm(
                            transB: transposeB, m: m, n: n, k: k, alpha: alpha,
                            a: ap.baseAddress! + i * m * k, lda: k,
                            b: bp.baseAddress! + i * k * n, ldb: b.shape[2],
                            c: out.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
    }
}
