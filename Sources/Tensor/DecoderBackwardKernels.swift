import Foundation

/// Backward passes of the decoder's operations (Llama family), beside the
/// forward kernels they differentiate (`Kernels.rmsNorm`, `rope`,
/// `siluMul`) and with the same row-major pointer conventions. Rows are split
/// over cores where the work is big enough, as the forward kernels do.
/// Each has a plain double-precision `…Reference` that the tests compare with
/// it (and with finite differences).
public enum DecoderBackwardKernels {
    /// Rows per parallel chunk for an op over `cols`-wide rows.
    static func rowChunk(_ cols: Int) -> Int { max(1, 16_384 / max(1, cols)) }

    /// RMSNorm y = x · r · w with r = 1/√(mean(x²) + eps), per row of
    /// x[rows, cols]: dx (+)= r·(w ⊙ dy) − x · r³ · ⟨w ⊙ dy, x⟩ / cols.
    /// `accumulate` adds into dx instead of overwriting it. The weight is
    /// frozen (no gradient).
    public static func rmsNorm(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, cols: Int, eps: Float, dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let px = UncheckedSendable(x), pdy = UncheckedSendable(dy), pw = UncheckedSendable(weight), pdx = UncheckedSendable(dx)
        Parallel.forEach(0..<rows, minimumChunk: rowChunk(cols)) { range in
            for r in range {
                let xr = px.value + r * cols, gr = pdy.value + r * cols, w = pw.value, out = pdx.value + r * cols
                var ss: Float = 0, dot: Float = 0
                for i in 0..<cols {
                    ss += xr[i] * xr[i]
                    dot += gr[i] * w[i] * xr[i]
                }
                let inv = 1 / (ss / Float(cols) + eps).squareRoot()
                let k = inv * inv * inv * dot / Float(cols)
                for i in 0..<cols {
                    let g = inv * w[i] * gr[i] - xr[i] * k
                    out[i] = accumulate ? out[i] + g : g
                }
            }
        }
    }

    /// SwiGLU a = silu(g) ⊙ u over [count]: du = da ⊙ silu(g),
    /// dg = da ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))). Overwrites dg and du.
    public static func siluMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, da: UnsafePointer<Float>, count: Int,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>
    ) {
        let pg = UncheckedSendable(gate), pu = UncheckedSendable(up), pda = UncheckedSendable(da), pdg = UncheckedSendable(dGate), pdu = UncheckedSendable(dUp)
        Parallel.forEach(0..<count, minimumChunk: 16_384) { range in
            for i in range {
                let g = pg.value[i], s = 1 / (1 + Foundation.exp(-g))
                let d = pda.value[i]
                pdu.value[i] = d * g * s
                pdg.value[i] = d * pu.value[i] * s * (1 + g * (1 - s))
            }
        }
    }

    /// GeGLU's backward (a = gelu_tanh(gate) · up, Gemma's MLP): dUp = da ·
    /// gelu_tanh(gate), dGate = da · up · gelu_tanh'(gate).
    public static func geluTanhMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, da: UnsafePointer<Float>, count: Int,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>
    ) {
        let pg = UncheckedSendable(gate), pu = UncheckedSendable(up), pda = UncheckedSendable(da), pdg = UncheckedSendable(dGate), pdu = UncheckedSendable(dUp)
        let k: Float = 0.79788456080286536, c: Float = 0.044715
        Parallel.forEach(0..<count, minimumChunk: 16_384) { range in
            for i in range {
                let g = pg.value[i], t = Foundation.tanh(k * (g + c * g * g * g))
                let d = pda.value[i]
                pdu.value[i] = d * 0.5 * g * (1 + t)
                let derivative = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * k * (1 + 3 * c * g * g)
                pdg.value[i] = d * pu.value[i] * derivative
            }
        }
    }

    /// RoPE is a rotation per pair, so its backward is the inverse rotation:
    /// the forward kernel at the negated positions (cos is even, sin odd,
    /// and f32 angles −p·θᵢ are exact negations).
    public static func rope(
        _ dx: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        positions: [Int], theta: Float, layout: RoPELayout
    ) {
        Kernels.rope(dx, tokens: tokens, heads: heads, headDim: headDim, positions: positions.map { -$0 },
                     theta: theta, layout: layout)
    }

    /// Causal grouped-query attention backward for one sequence of n tokens.
    /// Forward: P_h = softmax(scale · Q_h K_gᵀ + causal), O_h = P_h V_g.
    /// Given the saved probabilities (heads, n, n) and dO (n, heads·D):
    ///   dV_g += P_hᵀ dO_h,  dP = dO_h V_gᵀ,  dS = softmax backward,
    ///   dQ_h = scale · dS K_g,  dK_g += scale · dSᵀ Q_h.
    /// dq is overwritten; dk and dv are overwritten too (zeroed first).
    /// `scratch` holds n·n floats.
    public static func attention(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        probabilities: UnsafePointer<Float>, dContext: UnsafePointer<Float>,
        n: Int, heads: Int, kvHeads: Int, headDim D: Int, scale: Float,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let qW = heads * D, kvW = kvHeads * D, group = heads / kvHeads
        dk.update(repeating: 0, count: n * kvW)
        dv.update(repeating: 0, count: n * kvW)
        for h in 0..<heads {
            let g = h / group
            let P = probabilities + h * n * n
            BLAS.sgemm(transA: true, m: n, n: D, k: n, a: P, lda: n, b: dContext + h * D, ldb: qW,
                       beta: 1, c: dv + g * D, ldc: kvW)
            BLAS.sgemm(transB: true, m: n, n: n, k: D, a: dContext + h * D, lda: qW, b: v + g * D, ldb: kvW,
                       c: scratch, ldc: n)
            // Masked entries have p = 0, so their ds is 0.
            BackwardKernels.softmaxBackward(scratch, probabilities: P, rows: n, cols: n)
            BLAS.sgemm(m: n, n: D, k: n, alpha: scale, a: scratch, lda: n, b: k + g * D, ldb: kvW,
                       c: dq + h * D, ldc: qW)
            BLAS.sgemm(transA: true, m: n, n: D, k: n, alpha: scale, a: scratch, lda: n, b: q + h * D, ldb: qW,
                       beta: 1, c: dk + g * D, ldc: kvW)
        }
    }

    /// Mean-free token cross-entropy of logits[rows, vocab] against `targets`:
    /// returns Σ_r (logsumexp_r − logit[r, target_r]) in f64 and overwrites
    /// the logits with `scale` · (softmax − onehot), the gradient of
    /// scale · Σ losses.
    public static func crossEntropy(
        logits: UnsafeMutablePointer<Float>, rows: Int, vocab: Int, targets: [Int], scale: Float
    ) -> Double {
        precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows")
        var losses = [Double](repeating: 0, count: rows)
        let pm = UncheckedSendable(logits)
        losses.withUnsafeMutableBufferPointer { lb in
            let pLoss = UncheckedSendable(lb.baseAddress!)
            Parallel.forEach(0..<rows) { range in
                for r in range {
                    let row = pm.value + r * vocab
                    let t = targets[r]
                    let target = row[t]
                    var m = -Float.infinity
                    for j in 0..<vocab where row[j] > m { m = row[j] }
                    var sum: Double = 0
                    for j in 0..<vocab {
                        let e = Foundation.exp(row[j] - m)
                        row[j] = e
                        sum += Double(e)
                    }
                    pLoss.value[r] = Foundation.log(sum) + Double(m) - Double(target)
                    let inv = Float(1 / sum)
                    for j in 0..<vocab { row[j] *= inv * scale }
                    row[t] -= scale
                }
            }
        }
        return losses.reduce(0, +)
    }
}

