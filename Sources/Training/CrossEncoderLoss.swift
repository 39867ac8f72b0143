import Foundation

/// What a cross-encoder's logit is trained against (`limrank train
/// cross-encoder --loss`), as sentence-transformers' CrossEncoder losses with
/// their default identity activation compute it:
///
/// - `bce` (`BinaryCrossEntropyLoss`): the logit against a 0/1 label;
/// - `mse` (`MSELoss`, `train_cross-encoder_kd`): the logit against a
///   teacher's score of the same pair;
/// - `marginMSE` (`MarginMSELoss`, GPL): on (query, positive, negative)
///   triples, `s(q, p) − s(q, n)` against the teacher's margin.
///
/// Each is the mean over the batch (pairs, or triples for margin-mse).
public enum CrossEncoderLoss: String, Sendable, Codable, CaseIterable {
    case bce
    case mse
    case marginMSE = "margin-mse"

    /// Whether an example is a (query, positive, negative) triple.
    public var usesTriples: Bool { self == .marginMSE }

    /// Whether examples need a teacher's score.
    public var needsTeacherScores: Bool { self != .bce }

    /// The loss and its gradient with respect to each logit. `logits` are one
    /// per pair, or for triples the n positives' then the n negatives'
    /// (the packing order of `BERTTraining.batch`); `targets` are the labels,
    /// teacher scores or teacher margins, one per example.
    public func lossAndLogitGradients(logits: [Float], targets: [Float]) -> (loss: Float, gradients: [Float]) {
        let n = targets.count
        guard n > 0 else { return (0, []) }
        precondition(logits.count == (usesTriples ? 2 * n : n), "\(rawValue): \(logits.count) logits for \(n) targets")
        var gradients = [Float](repeating: 0, count: logits.count)
        var sum = 0.0
        switch self {
        case .bce:
            for b in 0..<n {
                let z = Double(logits[b]), y = Double(targets[b])
                sum += max(z, 0) - z * y + Foundation.log1p(Foundation.exp(-abs(z)))
                let sigma = z >= 0 ? 1 / (1 + Foundation.exp(-z)) : Foundation.exp(z) / (1 + Foundation.exp(z))
                gradients[b] = Float((sigma - y) / Double(n))
            }
        case .mse:
            for b in 0..<n {
                let r = Double(logits[b]) - Double(targets[b])
                sum += r * r
                gradients[b] = Float(2 * r / Double(n))
            }
        case .marginMSE:
            for b in 0..<n {
                let r = Double(logits[b]) - Double(logits[n + b]) - Double(targets[b])
                sum += r * r
                gradients[b] = Float(2 * r / Double(n))
                gradients[n + b] = -gradients[b]
            }
        }
        return (Float(sum / Double(n)), gradients)
    }
}
