import Foundation
import Tensor

// One decode step for several sequences at once (llama.cpp's parallel slots):
// each sequence brings its own KV cache and one new token, and the step runs
// the layers once for all of them. Every projection goes through
// `QuantizedMatrix.applyDecodeRows`, which reads (and unpacks) each weight
// row once for all the rows; attention runs per sequence over its own cache.
// Decode on CPU is bound by reading and unpacking the quantised weights, so a
// step of n sequences costs far less than n steps.
//
// The layer forward is the very one `forward(_:cache:)` runs; only the
// projection type differs (`DecodeRowsProjection` keeps the one-row decode
// arithmetic at any row count instead of switching to dequantise + sgemm),
// and every other kernel (norms, RoPE, SwiGLU/GeGLU, residual adds) works row by
// row. So each sequence's logits are bit-identical to running
// `forward([token], cache:)` on it alone.

/// A quantised matrix applied with the decode (row-dot) arithmetic whatever
/// the number of rows: row i of the result is what a one-row `apply` gives.
struct DecodeRowsProjection: LinearProjection {
    let matrix: QuantizedMatrix

    var outFeatures: Int { matrix.rows }
    var inFeatures: Int { matrix.cols }

    func apply(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
               bias: UnsafePointer<Float>?, activations: ActivationPrecision, record: ProjectionRecord?) {
        let m = outputRows == 0..<matrix.rows ? matrix : matrix.rowSlice(outputRows)
        m.applyDecodeRows(x, n: n, into: y, bias: bias.map { $0 + outputRows.lowerBound }, activations: activations)
    }
}

extension LlamaModel {
    /// One decode step of `tokens.count` sequences: sequence i appends
    /// `tokens[i]` after the positions of `caches[i]` (which it extends by
    /// one), and its next-token logits come back as element i. Each result
    /// is bit-identical to `forward([tokens[i]], cache: &caches[i]).logits`.
    /// Sequences may sit at different positions.
    public func decodeStep(_ tokens: [Int], caches: inout [KVCache]) throws -> [[Float]] {
        let c = configuration
        let n = tokens.count
        guard n > 0 else { throw ModelsError.invalidInput("no tokens to run") }
        guard caches.count == n else {
            throw ModelsError.invalidInput("\(n) tokens for \(caches.count) KV caches in a batched decode step")
        }
        for (i, cache) in caches.enumerated() {
            try checkShape(of: cache)
            guard cache.count + 1 <= c.maxPositionEmbeddings else {
                throw ModelsError.sequenceTooLong(length: cache.count + 1, maximum: c.maxPositionEmbeddings)
            }
            guard cache.canAppend(1) else {
                throw ModelsError.invalidInput("KV cache \(i) holds \(cache.capacity) positions; \(cache.count) used, 1 more requested")
            }
        }
        for (i, t) in tokens.enumerated() where t < 0 || t >= c.vocabSize {
            throw ModelsError.invalidInput("token id \(t) at \(i) is outside the vocabulary of \(c.vocabSize)")
        }

        let H = c.hiddenSize, D = c.headDim, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let qWidth = heads * D, kvWidth = kvHeads * D, I = c.intermediateSize
        let positions = caches.map(\.count)
        let longest = (positions.max() ?? 0) + 1

        // The same buffers and aliasing as `forward` at one row, n rows deep.
        var x = embeddings.gatherRows(tokens).data  // (n, H) residual stream
        if let s = c.embeddingScale { for i in x.indices { x[i] *= s } }
        let h = FloatBuffer(count: n * max(H, qWidth))
        let q = FloatBuffer(count: n * max(qWidth, H))
        let k = FloatBuffer(count: n * kvWidth)
        let v = FloatBuffer(count: n * kvWidth)
        let g = FloatBuffer(count: n * I)  // a decode row runs the gate whole
        let u = FloatBuffer(count: n * I)
        let scores = FloatBuffer(count: heads * longest)  // one sequence's (heads, total) at a time
        let scale = c.attentionScale
        for s in 0..<n { caches[s].reserve(1) }

        for (l, quantized) in layers.enumerated() {
            let layer = quantized.mapProjections { m, _ in DecodeRowsProjection(matrix: m) }
            x.withUnsafeMutableBufferPointer { xb in
                let xp = xb.baseAddress!
                let buffers = LlamaDecoderLayer<DecodeRowsProjection>.Buffers(
                    h1: h.p, q: q.p, k: k.p, v: v.p, scores: scores.p, context: h.p, attentionOut: q.p, middle: xp,
                    h2: h.p, gate: g.p, up: u.p, act: u.p, mlpOut: q.p, output: xp, qRaw: nil, kRaw: nil, gateSlice: I)
                layer.forward(input: xp, n: n, positions: positions, configuration: c, ropeLayout: options.ropeLayout,
                              activations: decodeActivations, buffers: buffers, record: nil) { b in
                    for s in 0..<n {
                        caches[s].write(layer: l, keys: b.k + s * kvWidth, values: b.v + s * kvWidth, rows: 1)
                        LlamaAttentionKernel.attend(
                            queries: b.q + s * qWidth, n: 1, cache: caches[s], layer: l, total: positions[s] + 1,
                            heads: heads, kvHeads: kvHeads, headDim: D, scale: scale, window: layer.slidingWindow,
                            scores: b.scores, keepsAllHeads: true, context: b.context + s * qWidth)
                    }
                }
            }
        }
        for s in 0..<n { caches[s].commit(1) }

        let V = c.vocabSize
        var out = [Float](repeating: 0, count: n * V)
        x.withUnsafeMutableBufferPointer { xb in
            Kernels.rmsNorm(xb.baseAddress!, rows: n, cols: H, weight: finalNorm.p, eps: c.rmsNormEps)
            out.withUnsafeMutableBufferPointer {
                outputHead.applyDecodeRows(xb.baseAddress!, n: n, into: $0.baseAddress!, activations: decodeActivations)
            }
        }
        return (0..<n).map { Array(out[($0 * V)..<(($0 + 1) * V)]) }
    }
}
