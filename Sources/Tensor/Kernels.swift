import Foundation

/// Which entries of a [rows, cols] score matrix softmax may attend to.
/// Masked entries get probability exactly 0; a row with nothing visible
/// becomes all zeros.
public struct SoftmaxMask: Sendable, Equatable {
    /// Row r sees columns c <= r + causalOffset (offset = past length in a
    /// KV cache); nil means no causal limit.
    public var causalOffset: Int?
    /// Only these columns are visible (key padding on either side); nil: all.
    public var validKeys: Range<Int>?
    /// Sliding-window attention (Gemma 3's local layers): with a causal
    /// offset, row r sees only the `window` columns ending at r + causalOffset
    /// (transformers' `kv_idx > q_idx - sliding_window`); nil: no lower limit.
    public var window: Int?

    public init(causalOffset: Int? = nil, validKeys: Range<Int>? = nil, window: Int? = nil) {
        self.causalOffset = causalOffset
        self.validKeys = validKeys
        self.window = window
    }

    public static let none = SoftmaxMask()
    public static func causal(offset: Int = 0) -> SoftmaxMask { SoftmaxMask(causalOffset: offset) }
    public static func keys(_ valid: Range<Int>) -> SoftmaxMask { SoftmaxMask(validKeys: valid) }
    /// Causal, and only the last `window` positions up to each row's own (nil window: plain causal).
    public static func slidingCausal(offset: Int = 0, window: Int?) -> SoftmaxMask {
        SoftmaxMask(causalOffset: offset, window: window)
    }

    /// Visible column range for row `r` of a `cols`-wide matrix.
    @inline(__always)
    public func visible(row r: Int, cols: Int) -> Range<Int> {
        var lo = 0, hi = cols
        if let c = causalOffset {
            hi = min(hi, max(0, r + c + 1))
            if let w = window { lo = max(lo, r + c + 1 - w) }
        }
        if let v = validKeys { lo = max(lo, v.lowerBound); hi = min(hi, v.upperBound) }
        return lo < hi ? lo..<hi : 0..<0
    }
}

/// Rotary-embedding pairing conventions.
public enum RoPELayout: Sendable {
    /// HF "rotate_half": dimension i pairs with i + d/2 (Llama/Qwen in transformers, GPT-NeoX).
    case neox
    /// Adjacent pairs (2i, 2i+1): GPT-J and llama.cpp's GGML_ROPE_TYPE_NORM.
    case interleaved
}

/// Fast kernels (SIMD8, split over cores where the work is big enough).
/// Pointer-level functions work in place on row-major [rows, cols] data with
/// an optional row stride; `Tensor` wrappers sit at the bottom.
public enum Kernels {
    /// Fast vs reference agreement, checked by the tests.
    public enum Tolerance {
        /// exp/softmax relative error.
        public static let softmax: Float = 2e-6
        /// Absolute error of GELU (erf and tanh forms) and SiLU per unit |x|.
        public static let activation: Float = 1e-6
        /// Normalisations, relative to the output scale.
        public static let norm: Float = 1e-5
    }

    /// Elements per parallel chunk below which splitting costs more than it saves.
    static let parallelGrain = 16_384

    @inline(__always)
    static func rowChunk(_ cols: Int) -> Int { max(1, parallelGrain / max(1, cols)) }

    // MARK: Softmax

    /// In-place row-wise softmax of x[rows, cols] (row stride `ld`, default cols),
    /// after multiplying by `scale`; max-subtracted for stability.
    public static func softmax(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int? = nil,
        scale: Float = 1, mask: SoftmaxMask = .none
    ) {
        let ld = ld ?? cols
        let px = UncheckedSendable(x)
        Parallel.forEach(0..<rows, minimumChunk: rowChunk(cols)) { range in
            for r in range {
                let row = px.value + r * ld
                let vis = mask.visible(row: r, cols: cols)
                if vis.isEmpty {
                    row.update(repeating: 0, count: cols)
                    continue
                }
                if vis.lowerBound > 0 { row.update(repeating: 0, count: vis.lowerBound) }
                if vis.upperBound < cols { (row + vis.upperBound).update(repeating: 0, count: cols - vis.upperBound) }
                softmaxRow(row + vis.lowerBound, vis.count, scale)
            }
        }
    }

    @inline(__always)
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ scale: Float) {
        if scale != 1 { map8(p, p, n) { $0 * scale } }
        let m = max8(p, n)
        if m == -.infinity {
            // Every score is -inf (an additive mask hid everything): no mass anywhere.
            p.update(repeating: 0, count: n)
            return
        }
        map8(p, p, n) { exp8($0 - m) }
        let inv = 1 / sum8(p, n)
        map8(p, p, n) { $0 * inv }
    }

    // MARK: Normalisation

    /// In-place LayerNorm over each row of x[rows, cols]: (x - mean) / sqrt(var + eps) * gamma + beta
    /// (biased variance, as torch).
    public static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>?, eps: Float
    ) {
        let px = UncheckedSendable(x), pg = UncheckedSendable(gamma), pb = UncheckedSendable(beta)
        Parallel.forEach(0..<rows, minimumChunk: rowChunk(cols)) { range in
            let g = pg.value, b = pb.value
            for r in range {
                let p = px.value + r * cols
                let mean = sum8(p, cols) / Float(cols)
                var acc = F8()
                var i = 0
                while i + 8 <= cols {
                    let d = loadF8(p + i) - mean
                    acc += d * d
                    i += 8
                }
                var v = acc.sum()
                while i < cols { let d = p[i] - mean; v += d * d; i += 1 }
                let inv = 1 / (v / Float(cols) + eps).squareRoot()
                i = 0
                while i + 8 <= cols {
                    var y = (loadF8(p + i) - mean) * inv * loadF8(g + i)
                    if let b { y += loadF8(b + i) }
                    storeF8(y, p + i)
                    i += 8
                }
                while i < cols {
                    var y = (p[i] - mean) * inv * g[i]
                    if let b { y += b[i] }
                    p[i] = y
                    i += 1
                }
            }
        }
    }

    /// In-place RMSNorm over each row: x * 1/sqrt(mean(x²) + eps) * weight.
    /// `addOne` uses (1 + weight), Gemma-style.
    public static func rmsNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        weight: UnsafePointer<Float>, eps: Float, addOne: Bool = false
    ) {
        let px = UncheckedSendable(x), pw = UncheckedSendable(weight)
        Parallel.forEach(0..<rows, minimumChunk: rowChunk(cols)) { range in
            let w = pw.value
            for r in range {
                let p = px.value + r * cols
                let ms = dot8(p, p, cols) / Float(cols)
                let inv = 1 / (ms + eps).squareRoot()
                var i = 0
                while i + 8 <= cols {
                    var wv = loadF8(w + i)
                    if addOne { wv += 1 }
                    storeF8(loadF8(p + i) * inv * wv, p + i)
                    i += 8
                }
                while i < cols {
                    p[i] = p[i] * inv * (addOne ? w[i] + 1 : w[i])
                    i += 1
                }
            }
        }
    }

    // MARK: Activations (in place over `count` elements)

    static func parallelMap(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ f: @escaping @Sendable (F8) -> F8) {
        let px = UncheckedSendable(x)
        // Chunks are multiples of 8 so only the last one has a scalar tail.
        let blocks = (count + 7) / 8
        Parallel.forEach(0..<blocks, minimumChunk: parallelGrain / 8) { range in
            let lo = range.lowerBound * 8, hi = min(count, range.upperBound * 8)
            map8(px.value + lo, px.value + lo, hi - lo, f)
        }
    }

    /// GELU, erf form: 0.5 x (1 + erf(x / sqrt 2)) (BERT's "gelu").
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        parallelMap(x, count) { v in 0.5 * v * (1 + erf8(v * 0.70710678118654752)) }
    }

    /// GELU, tanh approximation ("gelu_new" / "gelu_pytorch_tanh").
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        parallelMap(x, count) { v in
            0.5 * v * (1 + tanh8(0.79788456080286536 * (v + 0.044715 * v * v * v)))
        }
    }

    /// SiLU: x * sigmoid(x).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        parallelMap(x, count) { v in v / (1 + exp8(-v)) }
    }

    /// up[r, j] = silu(gate[r, j]) · up[r, j] for a (rows, cols) gate and an
    /// up with row stride `upStride` (the SwiGLU product, for an MLP whose
    /// gate may run a column slice at a time).
    public static func siluMul(_ gate: UnsafePointer<Float>, into up: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int, upStride: Int) {
        let pg = UncheckedSendable(gate), pu = UncheckedSendable(up)
        Parallel.forEach(0..<rows, minimumChunk: max(1, parallelGrain / max(1, cols))) { range in
            for r in range {
                let g = pg.value + r * cols, u = pu.value + r * upStride
                var i = 0
                while i + 8 <= cols {
                    let v = loadF8(g + i)
                    storeF8(v / (1 + exp8(-v)) * loadF8(u + i), u + i)
                    i += 8
                }
                while i < cols {
                    let v = g[i]
                    u[i] = v / (1 + Foundation.exp(-v)) * u[i]
                    i += 1
                }
            }
        }
    }

    /// up[r, j] = gelu_tanh(gate[r, j]) · up[r, j]: `siluMul`'s GeGLU twin
    /// (Gemma's MLP, transformers' "gelu_pytorch_tanh"), same layouts.
    public static func geluTanhMul(_ gate: UnsafePointer<Float>, into up: UnsafeMutablePointer<Float>,
                                   rows: Int, cols: Int, upStride: Int) {
        let pg = UncheckedSendable(gate), pu = UncheckedSendable(up)
        Parallel.forEach(0..<rows, minimumChunk: max(1, parallelGrain / max(1, cols))) { range in
            for r in range {
                let g = pg.value + r * cols, u = pu.value + r * upStride
                var i = 0
                while i + 8 <= cols {
                    let v = loadF8(g + i)
                    let t = tanh8(0.79788456080286536 * (v + 0.044715 * v * v * v))
                    storeF8(0.5 * v * (1 + t) * loadF8(u + i), u + i)
                    i += 8
                }
                while i < cols {
                    let v = g[i]
                    u[i] = 0.5 * v * (1 + Foundation.tanh(0.79788456080286536 * (v + 0.044715 * v * v * v))) * u[i]
                    i += 1
                }
            }
        }
    }

    /// e^x in place.
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        parallelMap(x, count) { exp8($0) }
    }

    // MARK: Rotary embeddings

    /// Inverse frequencies theta^(-2i/rotaryDim), computed in f32 as transformers does.
    public static func ropeInverseFrequencies(rotaryDim: Int, theta: Float) -> [Float] {
        (0..<(rotaryDim / 2)).map { i in 1 / Foundation.pow(theta, Float(2 * i) / Float(rotaryDim)) }
    }

    /// Rotates, in place, x laid out [tokens, heads, headDim] with row stride
    /// `tokenStride` (default heads*headDim) between tokens; token t sits at
    /// position `positions[t]`. Only the first `rotaryDim` (default headDim)
    /// dimensions of each head rotate.
    public static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        tokenStride: Int? = nil, positions: [Int], theta: Float,
        layout: RoPELayout, rotaryDim: Int? = nil
    ) {
        precondition(positions.count == tokens, "rope: \(positions.count) positions for \(tokens) tokens")
        let rd = rotaryDim ?? headDim
        let half = rd / 2
        let stride = tokenStride ?? heads * headDim
        let inv = ropeInverseFrequencies(rotaryDim: rd, theta: theta)
        let px = UncheckedSendable(x)
        Parallel.forEach(0..<tokens, minimumChunk: rowChunk(heads * headDim)) { range in
            var cosv = [Float](repeating: 0, count: half), sinv = cosv
            for t in range {
                let pos = Float(positions[t])
                for i in 0..<half {
                    // f32 angle like transformers; cos/sin rounded from double.
                    let angle = Double(pos * inv[i])
                    cosv[i] = Float(Foundation.cos(angle))
                    sinv[i] = Float(Foundation.sin(angle))
                }
                for h in 0..<heads {
                    let p = px.value + t * stride + h * headDim
                    switch layout {
                    case .neox:
                        for i in 0..<half {
                            let a = p[i], b = p[i + half]
                            p[i] = a * cosv[i] - b * sinv[i]
                            p[i + half] = b * cosv[i] + a * sinv[i]
                        }
                    case .interleaved:
                        for i in 0..<half {
                            let a = p[2 * i], b = p[2 * i + 1]
                            p[2 * i] = a * cosv[i] - b * sinv[i]
                            p[2 * i + 1] = b * cosv[i] + a * sinv[i]
                        }
                    }
                }
            }
        }
    }

    // MARK: Attention of one new position

    /// Grouped-query attention for a single query row (a decode step):
    /// for each head h (key/value head g = h / (heads / kvHeads)),
    /// probabilities[h, t] = softmax_t(scale · q_h · k_{t,g}) over all `total`
    /// cached positions, and context[h] = Σ_t probabilities[h, t] v_{t,g}.
    /// keys/values are (total, kvHeads · headDim); probabilities (heads, total).
    ///
    /// Dots and axpys instead of per-head 1-row sgemm calls: at one row, BLAS
    /// call and threading overhead outweighed the arithmetic.
    public static func attendOne(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        total: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float,
        probabilities: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>
    ) {
        attendOneRows(query: query, keys: keys, values: values, total: total, heads: heads, kvHeads: kvHeads,
                      headDim: D, scale: scale, probabilities: probabilities, context: context)
    }

    /// `attendOne` over an f16 cache: keys and values are IEEE halves (their
    /// bit patterns), widened to f32 as they are read.
    public static func attendOne(
        query: UnsafePointer<Float>, halfKeys keys: UnsafePointer<UInt16>, halfValues values: UnsafePointer<UInt16>,
        total: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float,
        probabilities: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>
    ) {
        attendOneRows(query: query, keys: keys, values: values, total: total, heads: heads, kvHeads: kvHeads,
                      headDim: D, scale: scale, probabilities: probabilities, context: context)
    }

    static func attendOneRows<E: CacheElement>(
        query: UnsafePointer<Float>, keys: UnsafePointer<E>, values: UnsafePointer<E>,
        total: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float,
        probabilities: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>
    ) {
        let group = heads / kvHeads, kvWidth = kvHeads * D
        let pq = UncheckedSendable(query), pk = UncheckedSendable(keys), pv = UncheckedSendable(values)
        let pp = UncheckedSendable(probabilities), pc = UncheckedSendable(context)
        // Split heads over threads only when each has real work.
        Parallel.forEach(0..<heads, minimumChunk: max(1, parallelGrain / max(1, 2 * total * D))) { range in
            for h in range {
                let q = pq.value + h * D, kv = (h / group) * D
                let s = pp.value + h * total
                for t in 0..<total { s[t] = dotRow(q, pk.value + t * kvWidth + kv, D) }
                softmaxRow(s, total, scale)
                weightedRowSum(s, rows: pv.value + kv, stride: kvWidth, count: total, width: D, into: pc.value + h * D)
            }
        }
    }

    /// Σ q[i] · row[i] for an f32 query and a cache row.
    @inline(__always)
    static func dotRow<E: CacheElement>(_ q: UnsafePointer<Float>, _ row: UnsafePointer<E>, _ count: Int) -> Float {
        var a0 = F8(), a1 = F8()
        var i = 0
        while i + 16 <= count {
            a0 = multiplyAdd(a0, loadF8(q + i), E.load8(row + i))
            a1 = multiplyAdd(a1, loadF8(q + i + 8), E.load8(row + i + 8))
            i += 16
        }
        var s = (a0 + a1).sum()
        while i < count { s += q[i] * E.load(row + i); i += 1 }
        return s
    }

    /// out[0..<width] = Σ_t weights[t] · rows[t · stride ..< t · stride + width].
    /// 64 columns at a time in eight register accumulators: accumulating in
    /// `out` itself put a store-to-load round trip on every row.
    @inline(__always)
    static func weightedRowSum<E: CacheElement>(_ weights: UnsafePointer<Float>, rows: UnsafePointer<E>, stride: Int, count: Int,
                                                width: Int, into out: UnsafeMutablePointer<Float>) {
        var c = 0
        while c + 64 <= width {
            var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8(), a4 = F8(), a5 = F8(), a6 = F8(), a7 = F8()
            for t in 0..<count {
                let w = F8(repeating: weights[t]), v = rows + t * stride + c
                a0 = multiplyAdd(a0, w, E.load8(v)); a1 = multiplyAdd(a1, w, E.load8(v + 8))
                a2 = multiplyAdd(a2, w, E.load8(v + 16)); a3 = multiplyAdd(a3, w, E.load8(v + 24))
                a4 = multiplyAdd(a4, w, E.load8(v + 32)); a5 = multiplyAdd(a5, w, E.load8(v + 40))
                a6 = multiplyAdd(a6, w, E.load8(v + 48)); a7 = multiplyAdd(a7, w, E.load8(v + 56))
            }
            storeF8(a0, out + c); storeF8(a1, out + c + 8); storeF8(a2, out + c + 16); storeF8(a3, out + c + 24)
            storeF8(a4, out + c + 32); storeF8(a5, out + c + 40); storeF8(a6, out + c + 48); storeF8(a7, out + c + 56)
            c += 64
        }
        if c < width {
            (out + c).update(repeating: 0, count: width - c)
            for t in 0..<count {
                let w = weights[t], v = rows + t * stride
                for i in c..<width { out[i] += w * E.load(v + i) }
            }
        }
    }

    /// f32 -> IEEE half bits, rounded to nearest even (one `vcvtps2ph` per
    /// eight values with F16C). Values beyond the half range become ±inf.
    public static func toHalves(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt16>) {
        for i in 0..<count { out[i] = Float16(x[i]).bitPattern }
    }

    /// IEEE half bits -> f32, exactly.
    public static func fromHalves(_ x: UnsafePointer<UInt16>, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = halfBitsToFloat(x[i]) }
    }

    // MARK: Selection

    /// Index of the largest element (the first one on ties; NaN never wins).
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        guard count > 0 else { return -1 }
        let m = max8(x, count)
        for i in 0..<count where x[i] == m { return i }
        return 0
    }

    /// The k largest elements, descending; ties keep the lower index first.
    public static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [(index: Int, value: Float)] {
        let k = min(k, count)
        guard k > 0 else { return [] }
        // A sorted buffer of k beats a heap for the small k sampling uses.
        var best: [(index: Int, value: Float)] = []
        best.reserveCapacity(k + 1)
        for i in 0..<count {
            let v = x[i]
            if v.isNaN { continue }
            if best.count == k, let last = best.last, !(v > last.value) { continue }
            var j = best.count
            while j > 0 && best[j - 1].value < v { j -= 1 }
            best.insert((i, v), at: j)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

/// Plain scalar kernels, one loop each and libm for transcendental functions:
/// the reference the fast kernels are tested against.
public enum ReferenceKernels {
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, scale: Float = 1, mask: SoftmaxMask = .none) {
        for r in 0..<rows {
            let p = x + r * cols
            let vis = mask.visible(row: r, cols: cols)
            var m = -Float.infinity
            for c in vis { m = max(m, p[c] * scale) }
            var s: Float = 0
            for c in 0..<cols {
                if vis.contains(c) && m != -.infinity {
                    p[c] = Foundation.exp(p[c] * scale - m)
                    s += p[c]
                } else {
                    p[c] = 0
                }
            }
            if s > 0 { for c in vis { p[c] /= s } }
        }
    }

    public static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>?, eps: Float) {
        for r in 0..<rows {
            let p = x + r * cols
            var mean: Double = 0
            for c in 0..<cols { mean += Double(p[c]) }
            mean /= Double(cols)
            var v: Double = 0
            for c in 0..<cols { v += (Double(p[c]) - mean) * (Double(p[c]) - mean) }
            let inv = 1 / (v / Double(cols) + Double(eps)).squareRoot()
            for c in 0..<cols {
                p[c] = Float((Double(p[c]) - mean) * inv) * gamma[c] + (beta?[c] ?? 0)
            }
        }
    }

    public static func rmsNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, weight: UnsafePointer<Float>, eps: Float, addOne: Bool = false) {
        for r in 0..<rows {
            let p = x + r * cols
            var ms: Double = 0
            for c in 0..<cols { ms += Double(p[c]) * Double(p[c]) }
            let inv = 1 / (ms / Double(cols) + Double(eps)).squareRoot()
            for c in 0..<cols { p[c] = Float(Double(p[c]) * inv) * (addOne ? weight[c] + 1 : weight[c]) }
        }
    }

    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = 0.5 * x[i] * (1 + Foundation.erf(x[i] / Float(2).squareRoot())) }
    }

    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.tanh((2 / Float.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
    }

    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = x[i] / (1 + Foundation.exp(-x[i])) }
    }

    public static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        positions: [Int], theta: Float, layout: RoPELayout, rotaryDim: Int? = nil
    ) {
        let rd = rotaryDim ?? headDim
        for t in 0..<tokens {
            for h in 0..<heads {
                let p = x + (t * heads + h) * headDim
                for i in 0..<(rd / 2) {
                    let angle = Double(positions[t]) * Foundation.pow(Double(theta), -Double(2 * i) / Double(rd))
                    let c = Float(Foundation.cos(angle)), s = Float(Foundation.sin(angle))
                    let (ia, ib) = layout == .neox ? (i, i + rd / 2) : (2 * i, 2 * i + 1)
                    let a = p[ia], b = p[ib]
                    p[ia] = a * c - b * s
                    p[ib] = b * c + a * s
                }
            }
        }
    }

    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        var best = -1
        for i in 0..<count where !x[i].isNaN && (best < 0 || x[i] > x[best]) { best = i }
        return best
    }

    public static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [(index: Int, value: Float)] {
        let all = (0..<count).filter { !x[$0].isNaN }.map { (index: $0, value: x[$0]) }
        let sorted = all.sorted { $0.value != $1.value ? $0.value > $1.value : $0.index < $1.index }
        return Array(sorted.prefix(k))
    }
}

// MARK: Tensor wrappers (values in, values out)

extension Tensor {
    /// Row-wise softmax over the last dimension; `mask` applies per row of the
    /// trailing [rows, cols] matrix of every leading batch.
    public func softmax(scale: Float = 1, mask: SoftmaxMask = .none) -> Tensor {
        var t = self
        let cols = lastDimension
        let rowsPerMatrix = rank >= 2 ? shape[rank - 2] : 1
        let matrices = rowsPerMatrix == 0 || cols == 0 ? 0 : count / (rowsPerMatrix * cols)
        t.data.withUnsafeMutableBufferPointer { p in
            for b in 0..<matrices {
                Kernels.softmax(p.baseAddress! + b * rowsPerMatrix * cols, rows: rowsPerMatrix, cols: cols, scale: scale, mask: mask)
            }
        }
        return t
    }

    public func layerNorm(gamma: Tensor, beta: Tensor?, eps: Float) -> Tensor {
        var t = self
        let cols = lastDimension, rows = rowCount
        precondition(gamma.count == cols && (beta?.count ?? cols) == cols, "layerNorm: \(gamma.shape) vs \(shape)")
        t.data.withUnsafeMutableBufferPointer { p in
            gamma.data.withUnsafeBufferPointer { g in
                if let beta {
                    beta.data.withUnsafeBufferPointer { b in
                        Kernels.layerNorm(p.baseAddress!, rows: rows, cols: cols, gamma: g.baseAddress!, beta: b.baseAddress!, eps: eps)
                    }
                } else {
                    Kernels.layerNorm(p.baseAddress!, rows: rows, cols: cols, gamma: g.baseAddress!, beta: nil, eps: eps)
                }
            }
        }
        return t
    }

    public func rmsNorm(weight: Tensor, eps: Float, addOne: Bool = false) -> Tensor {
        var t = self
        let cols = lastDimension, rows = rowCount
        precondition(weight.count == cols, "rmsNorm: \(weight.shape) vs \(shape)")
        t.data.withUnsafeMutableBufferPointer { p in
            weight.data.withUnsafeBufferPointer { w in
                Kernels.rmsNorm(p.baseAddress!, rows: rows, cols: cols, weight: w.baseAddress!, eps: eps, addOne: addOne)
            }
        }
        return t
    }

    private func mapped(_ f: (UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        var t = self
        let n = count
        t.data.withUnsafeMutableBufferPointer { p in if n > 0 { f(p.baseAddress!, n) } }
        return t
    }

    public func gelu() -> Tensor { mapped { Kernels.gelu($0, count: $1) } }
    public func geluTanh() -> Tensor { mapped { Kernels.geluTanh($0, count: $1) } }
    public func silu() -> Tensor { mapped { Kernels.silu($0, count: $1) } }

    /// RoPE over a [tokens, heads, headDim] tensor.
    public func rope(positions: [Int], theta: Float, layout: RoPELayout, rotaryDim: Int? = nil) -> Tensor {
        precondition(rank == 3, "rope: [tokens, heads, headDim], got \(shape)")
        var t = self
        let (n, h, d) = (shape[0], shape[1], shape[2])
        t.data.withUnsafeMutableBufferPointer { p in
            Kernels.rope(p.baseAddress!, tokens: n, heads: h, headDim: d, positions: positions, theta: theta, layout: layout, rotaryDim: rotaryDim)
        }
        return t
    }

    /// Argmax over the whole (flattened) tensor.
    public func argmax() -> Int { data.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: count) } }

    public func topK(_ k: Int) -> [(index: Int, value: Float)] {
        data.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: count, k: k) }
    }

    /// [seq, seq] additive causal mask (0 on and below the diagonal, -inf above),
    /// for callers that add masks rather than pass `SoftmaxMask`.
    public static func causalMask(_ n: Int, offset: Int = 0) -> Tensor {
        Tensor(shape: [n, n + offset]) { p in
            for i in 0..<n { for j in 0..<(n + offset) where j > i + offset { p[i * (n + offset) + j] = -.infinity } }
        }
    }
}
