import Foundation
import Models
import Tensor

/// The frozen base of a LoRA run: every weight of a Llama-family decoder
/// (Llama, Qwen2, Qwen3) dequantised to f32, in transformers' row order.
///
/// A llama GGUF stores Q and K rows permuted for llama.cpp's adjacent-pair
/// RoPE; they are put back in HF order here (and RoPE runs as `.neox`) so the
/// LoRA B matrices of q and k are in the order PEFT expects. f32 costs 4 bytes
/// a weight: SmolLM2-135M takes ~540 MB.
public struct LlamaTrainingWeights: Sendable {
    public struct Layer: Sendable {
        public var inputNorm: FloatBuffer, postNorm: FloatBuffer
        /// (out, in) row-major, by target.
        public var q: FloatBuffer, k: FloatBuffer, v: FloatBuffer, o: FloatBuffer
        public var gate: FloatBuffer, up: FloatBuffer, down: FloatBuffer
        public var qBias: FloatBuffer?, kBias: FloatBuffer?, vBias: FloatBuffer?
        public var qNorm: FloatBuffer?, kNorm: FloatBuffer?

        public func weight(_ t: LoRATarget) -> FloatBuffer {
            switch t {
            case .q: return q
            case .k: return k
            case .v: return v
            case .o: return o
            case .gate: return gate
            case .up: return up
            case .down: return down
            }
        }
    }

    public var configuration: LlamaConfiguration
    public var architecture: String
    public var embeddings: FloatBuffer  // (vocab, hidden)
    /// nil when tied to the embeddings.
    public var outputHead: FloatBuffer?
    public var finalNorm: FloatBuffer
    public var layers: [Layer]

    public var head: FloatBuffer { outputHead ?? embeddings }

    /// Dequantises `model` (GGUF or safetensors).
    public init(model: LlamaModel) {
        let c = model.configuration
        configuration = c
        architecture = model.options.architecture
        func dense(_ m: QuantizedMatrix) -> FloatBuffer {
            let b = FloatBuffer(count: m.rows * m.cols)
            m.dequantizeRows(0..<m.rows, into: b.p)
            return b
        }
        let permuted = model.options.ropeLayout == .interleaved
        func qk(_ m: QuantizedMatrix) -> FloatBuffer {
            guard permuted else { return dense(m) }
            return FloatBuffer(LlamaModel.unpermuteRowsForInterleavedRoPE(
                m.dequantize().data, rows: m.rows, cols: m.cols, headDim: c.headDim))
        }
        func vector(_ v: [Float]?) -> FloatBuffer? { v.map { FloatBuffer($0) } }
        embeddings = dense(model.embeddings)
        let tied = model.outputHead.storage === model.embeddings.storage && model.outputHead.offset == model.embeddings.offset
        outputHead = tied ? nil : dense(model.outputHead)
        finalNorm = FloatBuffer(model.finalNorm)
        layers = model.layers.map { l in
            Layer(inputNorm: FloatBuffer(l.inputNorm), postNorm: FloatBuffer(l.postAttentionNorm),
                  q: qk(l.query), k: qk(l.key), v: dense(l.value), o: dense(l.output),
                  gate: dense(l.gate), up: dense(l.up), down: dense(l.down),
                  qBias: vector(l.queryBias), kBias: vector(l.keyBias), vBias: vector(l.valueBias),
                  qNorm: vector(l.queryNorm), kNorm: vector(l.keyNorm))
        }
    }

    /// Bytes of f32 weights held.
    public var byteCount: Int {
        var n = embeddings.count + (outputHead?.count ?? 0) + finalNorm.count
        for l in layers {
            n += [l.inputNorm, l.postNorm, l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.count }
            n += [l.qBias, l.kBias, l.vBias, l.qNorm, l.kNorm].reduce(0) { $0 + ($1?.count ?? 0) }
        }
        return 4 * n
    }
}
