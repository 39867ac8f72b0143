import Testing
@testable import Tensor

/// f32 products of short random vectors: summation order differs from the
/// naive loop by a few ulp of the row magnitude.
let gemmTolerance: Float = 1e-4

func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { var s: Double = 0; for l in 0..<k { s += Double(a[i * k + l]) * Double(b[l * n + j]) }; c[i * n + j] = Float(s) } }
    return c
}

@Test func linearMatchesNaiveProduct() {
    var rng = SplitMix(seed: 1)
    let x = Tensor(shape: [5, 7], data: rng.floats(35))
    let w = Tensor(shape: [4, 7], data: rng.floats(28))
    let b = Tensor(shape: [4], data: rng.floats(4))
    let y = Tensor.linear(x, weight: w, bias: b)
    let ref = naiveMatmul(x.data, w.transposed2D().data, m: 5, k: 7, n: 4)
    #expect(y.shape == [5, 4])
    for i in 0..<5 { for j in 0..<4 { #expect(abs(y[i, j] - (ref[i * 4 + j] + b.data[j])) < gemmTolerance) } }
    #expect(Tensor.linear(x, weight: w).maxAbsDifference(Tensor(shape: [5, 4], data: ref)) < gemmTolerance)
}

@Test func batchedMatmulBothLayouts() {
    var rng = SplitMix(seed: 2)
    let a = Tensor(shape: [3, 4, 5], data: rng.floats(60))
    let b = Tensor(shape: [3, 5, 6], data: rng.floats(90))
    let c = Tensor.batchedMatmul(a, b, alpha: 0.5)
    let bt = Tensor(shape: [3, 6, 5], data: (0..<3).flatMap { b.row($0).transposed2D().data })
    let ct = Tensor.batchedMatmul(a, bt, transposeB: true, alpha: 0.5)
    for i in 0..<3 {
        let ref = naiveMatmul(a.row(i).data, b.row(i).data, m: 4, k: 5, n: 6).map { $0 * 0.5 }
        #expect(c.row(i).maxAbsDifference(Tensor(shape: [4, 6], data: ref)) < gemmTolerance)
        #expect(ct.row(i).maxAbsDifference(Tensor(shape: [4, 6], data: ref)) < gemmTolerance)
    }
    let m = Tensor.matmul(a.row(0), b.row(0))
    #expect(m.maxAbsDifference(c.row(0).scaled(by: 2)) < gemmTolerance)
}

/// Deterministic test data without Foundation's global RNG.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &self) }
    }
}
