import Foundation
import Tensor

/// sentence-transformers' CrossEncoder recipe on the training loop: a BERT
/// encoder plus a one-logit head, the engine's `loss` (binary cross-entropy,
/// or MSE / MarginMSE against a teacher's scores), micro-batches of
/// `batchSize` accumulated into a step, dropout masks seeded by (seed, step,
/// micro-batch) so a resumed run draws the same ones.
public enum CrossEncoderRecipe {
    /// The cross-encoder defaults (sentence-transformers' CrossEncoder.fit:
    /// linear decay after 10% warmup, AdamW with weight decay 0.01).
    public static let defaults = TrainingOptions(batchSize: 16, gradientAccumulation: 1, learningRate: 2e-5, schedule: .linear,
                                                 warmupRatio: 0.1, optimizer: AdamW.Configuration(weightDecay: 0.01))
    /// The base model and the longest tokenized pair, unless told otherwise.
    public static let defaultModel = "minilm"
    public static let defaultMaxSequence = 256

    /// The loop for `model` on `examples`: a seeded validation split, the
    /// recipe's method and the engine's loss in the run facts (a run resumes
    /// only with the loss it started with).
    public static func loop(model: BERTTraining, examples: [BERTTrainingExample], options: TrainingOptions,
                            runFacts: [String: String] = [:]) throws -> TrainingLoop<Model> {
        let (training, validation) = try DataOrder.validationSplit(examples, fraction: options.validationFraction, seed: options.seed)
        return try TrainingLoop(model: Model(engine: model, microBatchSize: options.batchSize, seed: options.seed),
                                training: training, validation: validation, options: options, label: "train",
                                runFacts: runFacts.merging(["method": "cross-encoder", "loss": model.loss.rawValue]) { a, _ in a })
    }

    /// `BERTTraining` (the gradient engine) as the loop drives it.
    public struct Model: TrainableModel {
        public var engine: BERTTraining
        public let microBatchSize: Int
        /// The run seed, for the dropout masks.
        public let seed: UInt64
        var gradients: [Float]

        public init(engine: BERTTraining, microBatchSize: Int, seed: UInt64) {
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

        public mutating func computeGradients(_ examples: [BERTTrainingExample], step: Int) throws -> (loss: Float, tokens: Int) {
            gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            var loss = 0.0, tokens = 0
            for (micro, range) in Self.microBatchRanges(count: examples.count, size: microBatchSize).enumerated() {
                let batch = try engine.batch(Array(examples[range]))
                let share = Float(range.count) / Float(examples.count)
                var maskRNG = TrainingRNG(seed: seed, stream: 0x4D41_534B_0000_0000 | UInt64(step) << 16 | UInt64(micro))  // "MASK"
                let (microLoss, _) = engine.lossAndGradients(batch, lossScale: share, dropoutSeed: maskRNG.next(), gradients: &gradients)
                loss += Double(microLoss) * Double(share)
                tokens += batch.tokenCount
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

        /// The engine's mean loss over the examples, in micro-batches (forward only).
        public func validationLoss(_ examples: [BERTTrainingExample]) throws -> Double? {
            guard !examples.isEmpty else { return nil }
            var sum = 0.0
            for range in Self.microBatchRanges(count: examples.count, size: microBatchSize) {
                let batch = try engine.batch(Array(examples[range]))
                sum += Double(engine.meanLoss(logits: engine.logits(batch), batch: batch)) * Double(range.count)
            }
            return sum / Double(examples.count)
        }

        /// Splits `count` examples of one optimizer step into micro-batches of
        /// at most `size` (the last may be smaller).
        public static func microBatchRanges(count: Int, size: Int) -> [Range<Int>] {
            precondition(size > 0, "micro-batch size must be positive")
            return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
        }
    }
}
