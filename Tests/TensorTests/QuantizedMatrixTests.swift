import Foundation
import Testing
@testable import Tensor

/// f32 dots over a few hundred products vs a double-precision reference.
let quantizedDotTolerance: Float = 2e-5

/// Random but well-formed blocks: random quants, finite small scales.
func randomMatrixBytes(_ type: GGMLType, rows: Int, cols: Int, rng: inout SplitMix) -> [UInt8] {
    let nBlocks = rows * cols / type.blockSize
    var bytes = (0..<(nBlocks * type.bytesPerBlock)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    func putHalf(_ v: Float, at i: Int) {
        let b = Float16(v).bitPattern
        bytes[i] = UInt8(b & 0xFF); bytes[i + 1] = UInt8(b >> 8)
    }
    func putFloat(_ v: Float, at i: Int) {
        let b = v.bitPattern
        for k in 0..<4 { bytes[i + k] = UInt8((b >> (8 * UInt32(k))) & 0xFF) }
    }
    for blk in 0..<nBlocks {
        let o = blk * type.bytesPerBlock
        let d = Float.random(in: 0.001...0.05, using: &rng), m = Float.random(in: -0.2...0.2, using: &rng)
        switch type {
        case .f16: putHalf(Float.random(in: -2...2, using: &rng), at: o)
        case .bf16:
            let b = Float.random(in: -2...2, using: &rng).bitPattern >> 16
            bytes[o] = UInt8(b & 0xFF); bytes[o + 1] = UInt8(b >> 8)
        case .f32: putFloat(Float.random(in: -2...2, using: &rng), at: o)
        case .q4_0, .q5_0, .q8_0: putHalf(d, at: o)
        case .q4_1, .q5_1, .q4_K, .q5_K: putHalf(d, at: o); putHalf(abs(m), at: o + 2)
        case .q8_1: putFloat(d, at: o); putFloat(m, at: o + 4)
        case .q6_K: putHalf(d, at: o + 208)
        default: break
        }
    }
    return bytes
}

let supportedTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q4_K, .q5_K, .q6_K]

@Test(arguments: supportedTypes)
func quantizedApplyAgreesWithReference(type: GGMLType) throws {
    var rng = SplitMix(seed: UInt64(type.rawValue) + 100)
    let rows = 37, cols = 512
    let w = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
    let dense = w.dequantize()
    #expect(dense.data.allSatisfy { $0.isFinite })
    // n = 1, 2 exercise the row-dot kernels; n = 5 the tiled sgemm path.
    for n in [1, 2, 5] {
        let x = Tensor(shape: [n, cols], data: rng.floats(n * cols))
        let bias = Tensor(shape: [rows], data: rng.floats(rows))
        let fast = w.apply(x, bias: bias)
        let ref = ReferenceKernels.quantizedApply(w, x) + bias
        let scale = max(1, ref.data.map(abs).max() ?? 1)
        #expect(fast.maxAbsDifference(ref) <= quantizedDotTolerance * scale, "\(type) n=\(n)")
        // The dense product through linear() agrees too.
        #expect(Tensor.linear(x, weight: dense, bias: bias).maxAbsDifference(ref) <= quantizedDotTolerance * scale)
    }
    #expect(w.gatherRows([3, 0]).data == dense.row(3).data + dense.row(0).data)
}

@Test func quantizedMatrixRejectsBadShapes() {
    #expect(throws: TensorError.columnsNotBlockAligned(cols: 100, blockSize: 32, type: .q4_1, context: "w")) {
        try QuantizedMatrix(type: .q4_1, rows: 1, cols: 100, bytes: [UInt8](repeating: 0, count: 100), name: "w")
    }
    #expect(throws: TensorError.byteCountMismatch(expected: 40, available: 39, context: "w")) {
        try QuantizedMatrix(type: .q4_1, rows: 2, cols: 32, bytes: [UInt8](repeating: 0, count: 39), name: "w")
    }
    #expect(throws: TensorError.unsupportedType(.iq2_xs, context: "w")) {
        try QuantizedMatrix(type: .iq2_xs, rows: 1, cols: 256, bytes: [UInt8](repeating: 0, count: 74), name: "w")
    }
}

@Test func q4_1BlockLayoutByHand() throws {
    // d = 0.5, m = -1, nibbles: byte j holds (lo = j, hi = 15 - j).
    var block: [UInt8] = [0x00, 0x38, 0x00, 0xBC]
    block += (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
    let w = try QuantizedMatrix(type: .q4_1, rows: 1, cols: 32, bytes: block)
    let low: [Float] = (0..<16).map { (j: Int) -> Float in Float(j) * 0.5 - 1 }
    let high: [Float] = (0..<16).map { (j: Int) -> Float in Float(15 - j) * 0.5 - 1 }
    let expected = low + high
    #expect(w.dequantize().data == expected)
}

@Test func halfConversionIsExactForEveryBitPattern() {
    for b in 0...UInt16.max {
        let fast = halfBitsToFloat(b), ref = Float(Float16(bitPattern: b))
        #expect(fast.bitPattern == ref.bitPattern || (fast.isNaN && ref.isNaN), "half bits \(b)")
        if !(fast.bitPattern == ref.bitPattern || (fast.isNaN && ref.isNaN)) { break }
    }
}

/// The decode layout of Q4_1/Q8_0: bit-identical dequantisation, and its
/// SIMD dots agree with the double-precision reference.
@Test(arguments: [GGMLType.q4_1, .q8_0])
func interleavedLayoutIsBitExactAndDotsAgree(type: GGMLType) throws {
    var rng = SplitMix(seed: 77)
    // 576 = SmolLM2's width; 1536 its MLP width (both whole 64-element groups).
    for (rows, cols) in [(5, 576), (19, 1536)] {
        let w = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
        #expect(w.canInterleave)
        let packed = w.interleaved()
        #expect(packed.isInterleaved && packed.byteCount == w.byteCount)
        // Same arithmetic on the same quants and scales: identical floats.
        #expect(packed.dequantize().data == w.dequantize().data)
        for n in [1, 2, 5] {
            let x = Tensor(shape: [n, cols], data: rng.floats(n * cols))
            let ref = ReferenceKernels.quantizedApply(w, x)
            let scale = max(1, ref.data.map(abs).max() ?? 1)
            #expect(packed.apply(x).maxAbsDifference(ref) <= quantizedDotTolerance * scale, "\(type) \(rows)x\(cols) n=\(n)")
        }
        #expect(packed.gatherRows([3, 0]).data == w.gatherRows([3, 0]).data)
    }
    // A width that is not whole groups keeps ggml's layout.
    let odd = try QuantizedMatrix(type: type, rows: 2, cols: 96, bytes: randomMatrixBytes(type, rows: 2, cols: 96, rng: &rng))
    #expect(type == .q8_0 ? odd.canInterleave : !odd.canInterleave)
    // Interleaving is idempotent and never changes the values.
    #expect(odd.interleaved().isInterleaved == odd.canInterleave)
    #expect(odd.interleaved().interleaved().dequantize().data == odd.dequantize().data)
}

/// 8-bit decode activations. With activations that are exact multiples of
/// 2^-7 and a ±127 in every 32-block, rounding to 8 bits loses nothing, so the
/// integer kernels must give the exact dot (up to f32 summation, the same
/// tolerance as the f32 kernels): this pins the activation layout element by
/// element. On arbitrary activations the error must stay within the bound of
/// rounding each activation by half a step: Σ_j |w_j| · step_b / 2 (Q4_1's
/// offset term uses the rounded sums, so the error is Σ w · (x̂ - x)).
/// Q4_0 and Q5_0 (ggml layout, no portable integer kernel) take part where
/// the build has the byte kernels, and must then really run them.
@Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0, .q5_0])
func int8ActivationsAreExactOnRepresentableInputsAndBoundedOtherwise(type: GGMLType) throws {
    let integer = type == .q4_1 || type == .q8_0 || InterleavedQuants.hasByteKernels
    var rng = SplitMix(seed: 91)
    for (rows, cols) in [(7, 576), (13, 1536)] {
        let w = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
        let packed = w.interleaved()
        for n in [1, 2] {
            var exact = (0..<(n * cols)).map { _ in Float(Int.random(in: -126...126, using: &rng)) / 128 }
            for b in 0..<(n * cols / 32) { exact[32 * b + Int.random(in: 0..<32, using: &rng)] = (b % 2 == 0 ? 127 : -127) / 128 }
            let x = Tensor(shape: [n, cols], data: exact)
            let ref = ReferenceKernels.quantizedApply(w, x)
            let scale = max(1, ref.data.map(abs).max() ?? 1)
            let y = Tensor(shape: [n, rows]) { out in
                x.data.withUnsafeBufferPointer { packed.apply($0.baseAddress!, n: n, into: out.baseAddress!, activations: .int8) }
            }
            #expect(y.maxAbsDifference(ref) <= quantizedDotTolerance * scale, "\(type) \(rows)x\(cols) n=\(n) representable")

            let random = Tensor(shape: [n, cols], data: rng.floats(n * cols))
            let exactRandom = ReferenceKernels.quantizedApply(w, random)
            let approx = Tensor(shape: [n, rows]) { out in
                random.data.withUnsafeBufferPointer { packed.apply($0.baseAddress!, n: n, into: out.baseAddress!, activations: .int8) }
            }
            // The integer path ran exactly when it exists: rounding the activations changes the result.
            #expect((approx.data != packed.apply(random).data) == integer, "\(type)")
            let weights = w.dequantize().data
            for i in 0..<n {
                for r in 0..<rows {
                    var bound: Float = 0
                    for b in 0..<(cols / 32) {
                        let xb = random.data[(i * cols + 32 * b)..<(i * cols + 32 * b + 32)]
                        let step = (xb.map(abs).max() ?? 0) / 127
                        for j in 0..<32 { bound += abs(weights[r * cols + 32 * b + j]) * step / 2 }
                    }
                    let error = abs(approx.data[i * rows + r] - exactRandom.data[i * rows + r])
                    #expect(error <= bound + quantizedDotTolerance * scale, "\(type) row \(r) n=\(i): \(error) > \(bound)")
                }
            }
            // f32 stays the default and ignores nothing: same as the f32 kernel.
            #expect(packed.apply(random).maxAbsDifference(exactRandom) <= quantizedDotTolerance * max(1, exactRandom.data.map(abs).max() ?? 1))
        }
    }
    // A type without an integer kernel keeps f32 activations under `.int8`.
    let f16 = try QuantizedMatrix(type: .f16, rows: 3, cols: 64, bytes: randomMatrixBytes(.f16, rows: 3, cols: 64, rng: &rng))
    let x = Tensor(shape: [1, 64], data: rng.floats(64))
    let y = Tensor(shape: [1, 3]) { out in
        x.data.withUnsafeBufferPointer { f16.apply($0.baseAddress!, n: 1, into: out.baseAddress!, activations: .int8) }
    }
    #expect(y.data == f16.apply(x).data)
}

/// x86 builds run 8-bit decode with byte multiplies (`vpmaddubsw`); every
/// integer sum lands in the lane the portable 16-bit kernels put it in, so the
/// results must be theirs bit for bit, weights of -128 and activations of
/// ±127 included.
@Test(.enabled(if: InterleavedQuants.hasByteKernels), arguments: [GGMLType.q4_1, .q8_0])
func byteKernelsGiveThePortableInt8KernelsResultsBitForBit(type: GGMLType) throws {
    var rng = SplitMix(seed: 191)
    for (rows, cols) in [(9, 576), (5, 1536)] {
        var bytes = randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng)
        if type == .q8_0 { for b in 0..<(rows * cols / 32) { bytes[34 * b + 2 + b % 32] = 0x80 } }
        let packed = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: bytes).interleaved()
        var x = rng.floats(cols)
        for b in 0..<(cols / 32) { x[32 * b + (7 * b) % 32] = b % 2 == 0 ? 3 : -3 }
        let blocks = cols / 32
        var q = [Int16](repeating: 0, count: cols)
        var scales = [Float](repeating: 0, count: blocks), sums = [Float](repeating: 0, count: blocks)
        InterleavedQuants.quantizeActivations(x, cols: cols, for: type, into: &q, scales: &scales, sums: &sums)
        let portable = (0..<rows).map { r in
            type == .q4_1
                ? InterleavedQuants.dotQ4_1Int8(packed.rowPointer(r), q, scales, cols: cols, xSums: sums)
                : InterleavedQuants.dotQ8_0Int8(packed.rowPointer(r), q, scales, cols: cols)
        }
        let y = Tensor(shape: [1, rows]) { out in
            x.withUnsafeBufferPointer { packed.apply($0.baseAddress!, n: 1, into: out.baseAddress!, activations: .int8) }
        }
        #expect(y.data == portable, "\(type) \(rows)x\(cols)")
    }
}

/// A row slice is the same rows in either layout: bit for bit on the row-dot
/// path; on the tiled path sgemm's blocking over a different row count may
/// round the last digit differently (the prompt MLP runs its gate in slices).
@Test(arguments: [GGMLType.q4_1, .q8_0, .q6_K])
func rowSlicesApplyLikeTheirRows(type: GGMLType) throws {
    var rng = SplitMix(seed: UInt64(type.rawValue) + 300)
    let rows = 40, cols = 256
    let plain = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
    for w in [plain, plain.interleaved()] {
        for n in [1, 5] {
            let x = Tensor(shape: [n, cols], data: rng.floats(n * cols))
            let full = w.apply(x)
            let slice = w.rowSlice(9..<31)
            #expect(slice.rows == 22 && slice.isInterleaved == w.isInterleaved)
            let part = slice.apply(x)
            let scale = max(1, full.data.map(abs).max() ?? 1)
            for i in 0..<n {
                let got = Array(part.data[(i * 22)..<((i + 1) * 22)]), want = Array(full.data[(i * rows + 9)..<(i * rows + 31)])
                if n <= QuantizedMatrix.gemmThreshold {
                    #expect(got == want, "\(type) interleaved=\(w.isInterleaved) row \(i)")
                } else {
                    let d = zip(got, want).map { abs($0 - $1) }.max() ?? 0
                    #expect(d <= quantizedDotTolerance * scale, "\(type) interleaved=\(w.isInterleaved) n=\(n) row \(i): \(d)")
                }
            }
        }
    }
}

/// K-quant decode with llama.cpp's Q8_K activations (one scale per 256
/// elements). Activations that are multiples of 2^-7 with a ±127/128 in every
/// 256-block round to 8 bits exactly, so the integer kernels must give the
/// exact dot (f32 summation tolerance): this pins the activation layout, the
/// sub-block scales and mins and the 5th/6th weight bits element by element.
/// On arbitrary activations the error must stay within llama.cpp's own bound,
/// half a rounding step per activation: Σ_j |w_j| · (amax_b / 127) / 2 over
/// the 256-blocks b.
@Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
func kQuantInt8ActivationsAreExactOnRepresentableInputsAndBoundedOtherwise(type: GGMLType) throws {
    var rng = SplitMix(seed: UInt64(type.rawValue) + 500)
    for (rows, cols) in [(7, 768), (11, 2048)] {
        let w = try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: randomMatrixBytes(type, rows: rows, cols: cols, rng: &rng))
        func int8Apply(_ x: Tensor, n: Int) -> Tensor {
            Tensor(shape: [n, rows]) { out in
                x.data.withUnsafeBufferPointer { w.apply($0.baseAddress!, n: n, into: out.baseAddress!, activations: .int8) }
            }
        }
        for n in [1, 2] {
            var exact = (0..<(n * cols)).map { _ in Float(Int.random(in: -126...126, using: &rng)) / 128 }
            for b in 0..<(n * cols / 256) { exact[256 * b + Int.random(in: 0..<256, using: &rng)] = (b % 2 == 0 ? 127 : -127) / 128 }
            let x = Tensor(shape: [n, cols], data: exact)
            let ref = ReferenceKernels.quantizedApply(w, x)
            let scale = max(1, ref.data.map(abs).max() ?? 1)
            #expect(int8Apply(x, n: n).maxAbsDifference(ref) <= quantizedDotTolerance * scale, "\(type) \(rows)x\(cols) n=\(n) representable")

            let random = Tensor(shape: [n, cols], data: rng.floats(n * cols))
            let exactRandom = ReferenceKernels.quantizedApply(w, random)
            let approx = int8Apply(random, n: n)
            let f32 = w.apply(random)
            // The integer path really ran: rounding the activations changes the result.
            #expect(approx.data != f32.data)
            let weights = w.dequantize().data
            for i in 0..<n {
                for r in 0..<rows {
                    var bound: Float = 0
                    for b in 0..<(cols / 256) {
                        let xb = random.data[(i * cols + 256 * b)..<(i * cols + 256 * b + 256)]
                        let step = (xb.map(abs).max() ?? 0) / 127
                        for j in 0..<256 { bound += abs(weights[r * cols + 256 * b + j]) * step / 2 }
                    }
                    let error = abs(approx.data[i * rows + r] - exactRandom.data[i * rows + r])
                    #expect(error <= bound + quantizedDotTolerance * scale, "\(type) row \(r) n=\(i): \(error) > \(bound)")
                }
            }
            // f32 stays the default: the exact kernel, untouched by `.int8` existing.
            #expect(f32.maxAbsDifference(exactRandom) <= quantizedDotTolerance * max(1, exactRandom.data.map(abs).max() ?? 1))
        }
    }
    // An all-zero activation row quantises to scale 0 and gives exactly 0.
    let w = try QuantizedMatrix(type: type, rows: 3, cols: 256, bytes: randomMatrixBytes(type, rows: 3, cols: 256, rng: &rng))
    let zero = Tensor(shape: [1, 256], data: [Float](repeating: 0, count: 256))
    let y = Tensor(shape: [1, 3]) { out in
        zero.data.withUnsafeBufferPointer { w.apply($0.baseAddress!, n: 1, into: out.baseAddress!, activations: .int8) }
    }
    #expect(y.data == [0, 0, 0])
}

/// Interleaving a memory-mapped matrix while releasing its source pages slice
/// by slice (the loaders' path, which keeps peak memory near one copy) gives
/// the same bytes as interleaving an owned copy, over several slices and a
/// matrix that starts and ends inside file pages; the file's bytes read back
/// unchanged afterwards.
@Test func interleavingAMappedMatrixReleasesItsSourceAndKeepsTheBytes() throws {
    var rng = SplitMix(seed: 17)
    let rows = 9_000, cols = 512  // Q8_0: 544 bytes a row, 4.9 MB: two 4 MiB slices
    let bytes = randomMatrixBytes(.q8_0, rows: rows, cols: cols, rng: &rng)
    let lead = 1_000  // not page-aligned, like a tensor inside a GGUF
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-interleave-\(UInt32.random(in: 0...UInt32.max)).bin").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = [UInt8](repeating: 7, count: lead) + bytes + [UInt8](repeating: 9, count: 333)
    #expect(FileManager.default.createFile(atPath: path, contents: Data(file)))
    let storage = try ByteStorage(mappingFileAt: path)
    let mapped = try QuantizedMatrix(type: .q8_0, rows: rows, cols: cols, storage: storage, offset: lead)
    let fromMap = mapped.interleaved(releasingSource: true)
    let fromCopy = try QuantizedMatrix(type: .q8_0, rows: rows, cols: cols, bytes: bytes).interleaved()
    #expect(fromMap.isInterleaved && fromCopy.isInterleaved)
    let a = UnsafeRawBufferPointer(start: fromMap.storage.baseAddress + fromMap.offset, count: fromMap.byteCount)
    let b = UnsafeRawBufferPointer(start: fromCopy.storage.baseAddress + fromCopy.offset, count: fromCopy.byteCount)
    #expect(a.elementsEqual(b))
    let back = UnsafeRawBufferPointer(start: storage.baseAddress, count: storage.count)
    #expect(back.elementsEqual(file))
}
