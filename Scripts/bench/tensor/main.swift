// Micro-benchmarks for the Tensor layer (not a test). Run through
// Scripts/bench/tensor_bench.sh, which builds it in release mode.
import CBLAS
import Foundation
import ModelFormats
import Tensor

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Best of `reps` timings of `body` (after one warm-up call).
func time(_ reps: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<reps { best = min(best, seconds(clock.measure(body))) }
    return best
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var s = seed
    return Tensor(shape: shape) { p in
        for i in 0..<p.count {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            p[i] = Float(Int64(bitPattern: s >> 11) % 2000) / 1000 - 1
        }
    }
}

let args = CommandLine.arguments
let peak = 250.0
print("threads: Parallel=\(Parallel.threadCount) OpenBLAS=\(BLAS.threadCount)")

print("\n== sgemm through Tensor.linear vs direct cblas_sgemm (same shapes, same run)")
for (n, inF, outF) in [(8192, 384, 384), (8192, 384, 1536), (8192, 1536, 384)] {
    let x = randomTensor([n, inF], seed: 1), w = randomTensor([outF, inF], seed: 2), b = randomTensor([outF], seed: 3)
    let flops = 2.0 * Double(n * inF * outF)
    let tLinear = time(3) { _ = Tensor.linear(x, weight: w, bias: b) }
    var c = [Float](repeating: 0, count: n * outF)
    let tDirect = time(3) {
        x.data.withUnsafeBufferPointer { xp in
            w.data.withUnsafeBufferPointer { wp in
                c.withUnsafeMutableBufferPointer { cp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outF), Int32(inF), 1,
                                xp.baseAddress, Int32(inF), wp.baseAddress, Int32(outF == 0 ? 1 : inF), 0, cp.baseAddress, Int32(outF))
                }
            }
        }
    }
    let g = flops / tLinear / 1e9, gd = flops / tDirect / 1e9
    print(String(format: "linear %5dx%4dx%4d: %6.1f GFLOP/s (%.0f%% of %.0f peak); direct sgemm %6.1f GFLOP/s; ratio %.2f",
                 n, inF, outF, g, 100 * g / peak, peak, gd, g / gd))
}

print("\n== element-wise kernels: SIMD vs scalar reference (ns/element)")
do {
    let n = 8192 * 1536
    let x = randomTensor([n], seed: 4).scaled(by: 6)
    for (name, fast, ref) in [
        ("gelu", { (p: UnsafeMutablePointer<Float>) in Kernels.gelu(p, count: n) }, { (p: UnsafeMutablePointer<Float>) in ReferenceKernels.gelu(p, count: n) }),
        ("silu", { Kernels.silu($0, count: n) }, { ReferenceKernels.silu($0, count: n) }),
        ("geluTanh", { Kernels.geluTanh($0, count: n) }, { ReferenceKernels.geluTanh($0, count: n) }),
    ] as [(String, (UnsafeMutablePointer<Float>) -> Void, (UnsafeMutablePointer<Float>) -> Void)] {
        var a = x.data
        let tf = time(3) { a.withUnsafeMutableBufferPointer { fast($0.baseAddress!) }; a = x.data }
        let tr = time(2) { a.withUnsafeMutableBufferPointer { ref($0.baseAddress!) }; a = x.data }
        print(name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " fast %.2f ns/el, reference %.2f ns/el, speed-up %.1fx", tf / Double(n) * 1e9, tr / Double(n) * 1e9, tr / tf))
    }
    let rows = 12 * 256 * 8, cols = 256
    let s = randomTensor([rows * cols], seed: 5).scaled(by: 8)
    var a = s.data
    let tf = time(3) { a.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: rows, cols: cols, scale: 0.125) }; a = s.data }
    let tr = time(2) { a.withUnsafeMutableBufferPointer { ReferenceKernels.softmax($0.baseAddress!, rows: rows, cols: cols, scale: 0.125) }; a = s.data }
    print(String(format: "softmax   [%d, %d]: fast %.2f ns/el, reference %.2f ns/el, speed-up %.1fx", rows, cols, tf / Double(rows * cols) * 1e9, tr / Double(rows * cols) * 1e9, tr / tf))
    let ln = randomTensor([8192, 384], seed: 6), g = randomTensor([384], seed: 7)
    var l = ln.data
    let tl = time(3) { l.withUnsafeMutableBufferPointer { Kernels.layerNorm($0.baseAddress!, rows: 8192, cols: 384, gamma: g.data, beta: g.data, eps: 1e-12) }; l = ln.data }
    let tlr = time(2) { l.withUnsafeMutableBufferPointer { ReferenceKernels.layerNorm($0.baseAddress!, rows: 8192, cols: 384, gamma: g.data, beta: g.data, eps: 1e-12) }; l = ln.data }
    print(String(format: "layerNorm [8192, 384]: fast %.2f ms, reference %.2f ms, speed-up %.1fx", tl * 1e3, tlr * 1e3, tlr / tl))
}

// K-quant decode: the exact f32 path (dequantise a row into L1 scratch, f32
// dot) against llama.cpp's arithmetic (`.int8`: activations rounded to Q8_K
// once per product, integer dots), on random well-formed blocks: Gemma 3
// 270M's K-quant shapes (attn_output Q4_K, ffn_down Q6_K) and a 7B-sized one.
do {
    print("\n== K-quant decode (n = 1): f32 (dequantise + dot) vs int8 activations (Q8_K integer dots)")
    func kMatrix(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) throws -> QuantizedMatrix {
        var s = seed
        let blocks = rows * cols / 256
        var bytes = [UInt8](repeating: 0, count: blocks * type.bytesPerBlock)
        for i in bytes.indices {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: s >> 33)
        }
        for b in 0..<blocks {
            let o = b * type.bytesPerBlock
            // Finite scales of a realistic size: d = 0.01, dmin = 0.005 as f16.
            let d = Float16(0.01).bitPattern, m = Float16(0.005).bitPattern
            let at = type == .q6_K ? o + 208 : o
            bytes[at] = UInt8(d & 0xFF); bytes[at + 1] = UInt8(d >> 8)
            if type != .q6_K { bytes[o + 2] = UInt8(m & 0xFF); bytes[o + 3] = UInt8(m >> 8) }
        }
        return try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: bytes)
    }
    for (type, rows, cols) in [(GGMLType.q4_K, 640, 1024), (.q6_K, 640, 2048), (.q5_K, 640, 2048),
                               (.q4_K, 4096, 4096), (.q5_K, 4096, 4096), (.q6_K, 4096, 4096)] {
        let m = try kMatrix(type, rows: rows, cols: cols, seed: UInt64(rows + cols))
        let x = randomTensor([1, cols], seed: 11)
        var y = [Float](repeating: 0, count: rows)
        let reps = rows * cols > 1 << 22 ? 10 : 50
        let tf = time(reps) { x.data.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { m.apply(xp.baseAddress!, n: 1, into: $0.baseAddress!) } } }
        let ti = time(reps) { x.data.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { m.apply(xp.baseAddress!, n: 1, into: $0.baseAddress!, activations: .int8) } } }
        print(type.description + String(format: " [%5d, %5d]: f32 %.3f ms (%5.1f GB/s), int8 %.3f ms (%5.1f GB/s): int8 speed-up %.2fx",
                                        rows, cols, tf * 1e3, Double(m.byteCount) / tf / 1e9, ti * 1e3, Double(m.byteCount) / ti / 1e9, tf / ti))
    }
    let m = try kMatrix(.q4_K, rows: 4096, cols: 4096, seed: 5)
    for n in [64, 512] {
        let x = randomTensor([n, 4096], seed: 12)
        let t = time(3) { _ = m.apply(x) }
        let dense = m.dequantize()
        let td = time(3) { _ = Tensor.linear(x, weight: dense) }
        let flops = 2.0 * Double(n * m.rows * m.cols)
        print(String(format: "prefill n=%3d Q4_K [4096, 4096] tiled dequantise + sgemm: %.2f ms = %.1f GFLOP/s; dense f32 linear %.2f ms = %.1f GFLOP/s; ratio %.2f",
                     n, t * 1e3, flops / t / 1e9, td * 1e3, flops / td / 1e9, td / t))
    }
}

let ggufPath = args.count > 1 ? args[1]
    : (ProcessInfo.processInfo.environment["LIMRANK_MODELS"] ?? (NSHomeDirectory() + "/.cache/limrank/models")) + "/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if let f = try? GGUFFile(path: ggufPath) {
    print("\n== quantised matrices from \(ggufPath.split(separator: "/").last!)")
    let mats = try f.tensors.filter { $0.ne.count == 2 }.map { try $0.quantizedMatrix() }
    for name in ["blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "token_embd.weight"] {
        let m = try f.tensor(named: name).quantizedMatrix()
        let x = randomTensor([1, m.cols], seed: 8)
        let t = time(20) { _ = m.apply(x) }
        let dense = m.dequantize()
        let td = time(20) { _ = Tensor.linear(x, weight: dense) }
        let tr = time(1) { _ = ReferenceKernels.quantizedApply(m, x) }
        print("decode " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + " " + m.type.description + String(format: " [%5d, %4d]: %.3f ms = %5.1f GB/s of weights; dense f32 sgemv %.3f ms (%.2fx); scalar reference %.1f ms (%.0fx)",
                     m.rows, m.cols, t * 1e3, Double(m.byteCount) / t / 1e9, td * 1e3, td / t, tr * 1e3, tr / t))
    }
    let totalBytes = mats.reduce(0) { $0 + $1.byteCount }
    let xs = Dictionary(grouping: mats, by: \.cols).mapValues { randomTensor([1, $0[0].cols], seed: 9) }
    let tAll = time(5) { for m in mats { _ = m.apply(xs[m.cols]!) } }
    print(String(format: "decode, every 2-D weight once (%d matrices, %.1f MB): %.2f ms = %.1f GB/s -> matvec-bound ceiling %.0f tokens/s",
                 mats.count, Double(totalBytes) / 1e6, tAll * 1e3, Double(totalBytes) / tAll / 1e9, 1 / tAll))
    for n in [64, 512] {
        let m = try f.tensor(named: "blk.0.ffn_up.weight").quantizedMatrix()
        let x = randomTensor([n, m.cols], seed: 10)
        let t = time(3) { _ = m.apply(x) }
        let dense = m.dequantize()
        let td = time(3) { _ = Tensor.linear(x, weight: dense) }
        let flops = 2.0 * Double(n * m.rows * m.cols)
        print(String(format: "prefill n=%3d ffn_up Q4_1: %.2f ms = %.1f GFLOP/s; dense f32 linear %.2f ms = %.1f GFLOP/s; ratio %.2f",
                     n, t * 1e3, flops / t / 1e9, td * 1e3, flops / td / 1e9, td / t))
    }
} else {
    print("\n(no GGUF at \(ggufPath): quantised benchmarks skipped)")
}
