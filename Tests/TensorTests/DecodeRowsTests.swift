import Testing
@testable import Tensor

/// `applyDecodeRows` (the batched decode step's projections) gives every row
/// exactly what the one-row decode `apply` gives it, bit for bit, in every
/// weight layout and with either decode arithmetic (8-bit activations go
/// four rows at a time through the byte kernels): the batched step's logits
/// are compared exactly against sequences decoded alone.
@Test(arguments: [GGMLType.f32, .q4_1, .q8_0, .q4_K, .q6_K, .q5_0, .q4_0],
      [ActivationPrecision.float32, .int8])
func decodeRowsAreBitIdenticalToOneRowApply(type: GGMLType, activations: ActivationPrecision) throws {
    var rng = SplitMix(seed: UInt64(type.rawValue) + 700)
    // 320 columns: an odd number (5) of 64-element Q4_1 groups and of Q8_0
    // block pairs' halves (10 blocks); K-quants need multiples of 256.
    let cols = type.blockSize == 256 ? 512 : 320, rows = 37
    let plain = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
    let odd = try QuantizedMatrix(type: type, rows: 5, cols: type.blockSize == 256 ? 256 : 96,
                                  bytes: randomMatrixBytes(type, rows: 5, cols: type.blockSize == 256 ? 256 : 96, rng: &rng))
    for w in [plain, plain.interleaved(), odd, odd.interleaved()] {
        let bias = rng.floats(w.rows)
        for n in [1, 2, 3, 4, 5, 8, 9] {
            let x = rng.floats(n * w.cols)
            for withBias in [false, true] {
                var batched = [Float](repeating: .nan, count: n * w.rows)
                var alone = batched
                x.withUnsafeBufferPointer { xp in
                    bias.withUnsafeBufferPointer { bp in
                        let b = withBias ? bp.baseAddress : nil
                        batched.withUnsafeMutableBufferPointer {
                            w.applyDecodeRows(xp.baseAddress!, n: n, into: $0.baseAddress!, bias: b, activations: activations)
                        }
                        alone.withUnsafeMutableBufferPointer { y in
                            for i in 0..<n {
                                w.apply(xp.baseAddress! + i * w.cols, n: 1, into: y.baseAddress! + i * w.rows, bias: b,
                                        activations: activations)
                            }
                        }
                    }
                }
                // Counted, not listed: a failure names the first differing element.
                let differing = batched.indices.filter { batched[$0].bitPattern != alone[$0].bitPattern }
                let first = differing.first.map { "first at \($0): \(batched[$0]) vs \(alone[$0])" } ?? ""
                #expect(differing.isEmpty, """
                    \(type) \(activations) interleaved=\(w.isInterleaved) cols=\(w.cols) n=\(n) bias=\(withBias): \
                    \(differing.count) differ, \(first)
                    """)
            }
        }
    }
}
