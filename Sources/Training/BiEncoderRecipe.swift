import Foundation
import Tensor

/// sentence-transformers' bi-encoder recipe on the training loop: a
/// sentence-transformers BERT pipeline trained with
/// MultipleNegativesRankingLoss or MarginMSELoss (`BiEncoderLoss`), batches
/// drawn as NoDuplicatesBatchSampler draws them (no two rows of one query or
/// document in a batch), dropout masks seeded by (seed, step, micro-batch).
public enum BiEncoderRecipe {
    /// The bi-encoder defaults: the MNRL training scripts of
    /// sentence-transformers and GPL (lr 2e-5, linear decay after 10%
    /// warmup, AdamW with weight decay 0.01, clip 1.0, one epoch), batch 32
    /// (in-batch negatives: the larger the better; 32 fits 2 cores).
    public static let defaults = TrainingOptions(batchSize: 32, gradientAccumulation: 1, learningRate: 2e-5, schedule: .linear,
                                                 warmupRatio: 0.1, optimizer: AdamW.Configuration(weightDecay: 0.01))
    public static let defaultModel = "minilm"
    /// MultipleNegativesRankingLoss's default scale.
    public static let defaultScale: Float = 20

    /// The factor s that maps teacher margins onto the student's own by least
    /// squares, argmin Σ (s · teacher − student)² = Σ teacher · student / Σ teacher²,
    /// or nil when the teacher's margins are all zero. MarginMSE asks the
    /// student's dot products to reproduce the teacher's margins; a teacher on
    /// another scale (GPL's cross-encoder logits, or fused scores in [0, 1]
    /// against a normalised student's cosines) then pulls every margin wider
    /// or narrower than the student can follow. Fit on the training rows at
    /// the start model, it leaves the ranking signal and removes the scale.
    public static func marginScale(teacher: [Float], student: [Double]) -> Double? {
        precondition(teacher.count == student.count, "\(teacher.count) teacher margins for \(student.count) student margins")
        var tt = 0.0, ts = 0.0
        for (t, s) in zip(teacher, student) {
            tt += Double(t) * Double(t)
            ts += Double(t) * s
        }
        return tt > 0 ? ts / tt : nil
    }

    /// The loop for `model` on `examples`: a seeded validation split, the
    /// no-duplicates batch keys, the method and loss in the run facts.
    public static func loop(model: BiEncoderTraining, examples: [BiEncoderExample], options: TrainingOptions,
                            runFacts: [String: String] = [:]) throws -> TrainingLoop<Model> {
        let (training, validation) = try DataOrder.validationSplit(examples, fraction: options.validationFraction, seed: options.seed)
        let facts = ["method": "bi-encoder", "loss": model.loss.rawValue, "scale": "\(model.scale)"]
        return try TrainingLoop(model: Model(engine: model, microBatchSize: options.batchSize, seed: options.seed),
                                training: training, validation: validation, options: options, label: "train bi-encoder",
                                runFacts: runFacts.merging(facts) { a, _ in a }, batchKeys: training.map(\.keys))
    }

    /// `BiEncoderTraining` as the loop drives it.
    public struct Model: TrainableModel {
        public var engine: BiEncoderTraining
        public let microBatchSize: Int
        public let seed: UInt64
        var gradients: [Float]

        public init(engine: BiEncoderTraining, microBatchSize: Int, seed: UInt64) {
            self.engine = engine
            self.microBatchSize = microBatchSize
            self.seed = seed
            gradients = [Float](repeating: 0, count: engine.parameters.count)
        }

        public var parameterNames: [String] { engine.parameters.names }

        public func parameterTensors() -> [String: Tensor] { engine.parameters.tensors }

        public mutating func loadParameters(_ tensors: [String: Tensor], file: String) throws {
            try engine.parameters.load(tensors, file: file)
        }

        /// Each micro-batch is its own set of in-batch negatives (as gradient
        /// accumulation gives in sentence-transformers); losses are averaged by rows.
        public mutating func computeGradients(_ examples: [BiEncoderExample], step: Int) throws -> (loss: Float, tokens: Int) {
            gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            var loss = 0.0, tokens = 0
            for (micro, range) in CrossEncoderRecipe.Model.microBatchRanges(count: examples.count, size: microBatchSize).enumerated() {
                let share = Float(range.count) / Float(examples.count)
                var maskRNG = TrainingRNG(seed: seed, stream: 0x4D41_534B_0000_0000 | UInt64(step) << 16 | UInt64(micro))  // "MASK"
                let (microLoss, microTokens) = try engine.lossAndGradients(Array(examples[range]), lossScale: share,
                                                                           dropoutSeed: maskRNG.next(), gradients: &gradients)
                loss += Double(microLoss) * Double(share)
                tokens += microTokens
            }
            return (Float(loss), tokens)
        }

        public mutating func withUpdateBuffers<R>(_ body: (UpdateBuffers) throws -> R) rethrows -> R {
            // Moved out and back (O(1)) so the parameters and the gradient are borrowed separately.
            var g: [Float] = []
            swap(&g, &gradients)
            defer { swap(&g, &gradients) }
            let slots = engine.parameters.slots
            return try engine.parameters.values.withUnsafeMutableBufferPointer { p in
                try g.withUnsafeMutableBufferPointer { gb in
                    try body(UpdateBuffers(gradientStorage: [gb], slices: slots.map { s in
                        UpdateBuffers.Slice(name: s.name, parameter: p.baseAddress! + s.offset, gradient: gb.baseAddress! + s.offset,
                                            count: s.count, decay: s.decay)
                    }))
                }
            }
        }

        /// Mean loss over the held-out rows in micro-batches (forward only;
        /// MNRL's in-batch negatives are those of each micro-batch).
        public func validationLoss(_ examples: [BiEncoderExample]) throws -> Double? {
            guard !examples.isEmpty else { return nil }
            var sum = 0.0
            for range in CrossEncoderRecipe.Model.microBatchRanges(count: examples.count, size: microBatchSize) {
                sum += Double(try engine.batchLoss(Array(examples[range]))) * Double(range.count)
            }
            return sum / Double(examples.count)
        }
    }
}
