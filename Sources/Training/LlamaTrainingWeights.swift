import Foundation
import Models
import Tensor

/// The frozen base of a LoRA run: a Llama-family decoder's weights (Llama,
/// Qwen2, Qwen3) as the dense variant of the inference model's
/// (`LlamaDecoderLayer<DenseProjection>`), every matrix dequantised to f32
/// in transformers' row order.
///
/// A llama GGUF stores Q and K rows permuted for llama.cpp's adjacent-pair
/// RoPE; they are put back in HF order here (and RoPE runs as `.neox`) so the
/// LoRA B matrices of q and k are in the order PEFT expects. f32 costs 4 bytes
/// a weight: SmolLM2-135M takes ~540 MB.
public struct LlamaTrainingWeights: Sendable {
    public var configuration: LlamaConfiguration
    public var embeddings: FloatBuffer  // (vocab, hidden)
    /// nil when tied to the embeddings.
    public var outputHead: FloatBuffer?
    public var finalNorm: FloatBuffer  // (hidden)
    public var layers: [LlamaDecoderLayer<DenseProjection>]

    public var head: FloatBuffer { outputHead ?? embeddings }

    /// Dequantises `model` (GGUF or safetensors); vectors are shared with it.
    public init(model: LlamaModel) {
        let c = model.configuration
        configuration = c
        let permuted = model.options.ropeLayout == .interleaved
        embeddings = DenseProjection(model.embeddings).weight
        let tied = model.outputHead.storage === model.embeddings.storage && model.outputHead.offset == model.embeddings.offset
        outputHead = tied ? nil : DenseProjection(model.outputHead).weight
        finalNorm = model.finalNorm
        layers = model.layers.map { l in
            l.mapProjections { m, target in
                guard permuted, target == .q || target == .k else { return DenseProjection(m) }
                let rows = LlamaModel.unpermuteRowsForInterleavedRoPE(m.dequantize().data, rows: m.rows, cols: m.cols, headDim: c.headDim)
                return DenseProjection(weight: FloatBuffer(rows), outFeatures: m.rows, inFeatures: m.cols)
            }
        }
    }

    /// Bytes of f32 weights held.
    public var byteCount: Int {
        var n = embeddings.count + (outputHead?.count ?? 0) + finalNorm.count
        for l in layers {
            n += LoRATarget.allCases.reduce(0) { $0 + l.projection($1).weight.count }
            n += LlamaWeightNames.Part.allCases.reduce(0) { $0 + (l.vector($1)?.count ?? 0) }
        }
        return 4 * n
    }
}
