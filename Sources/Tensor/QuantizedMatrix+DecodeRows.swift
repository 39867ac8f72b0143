// Batched decode: several sequences' single new rows through one weight
// matrix, each weight row read (and unpacked) once for all of them.
//
// Decode is memory- and unpack-bound on quantised weights: one activation row
// per step reads every weight byte and turns its nibbles into floats for eight
// multiply-adds per 64 elements. With n rows from n different sequences the
// same bytes and the same unpacked floats serve all n, so a step costs little
// more than one row's. Each row's arithmetic is exactly that of
// `apply(x_i, n: 1)` (same operations in the same order, same accumulators),
// so the results are bit-identical to decoding the sequences one at a time:
// unlike the prefill's dequantise-and-sgemm, which sums in another order.

extension QuantizedMatrix {
    /// y[n, rows] = x[n, cols] · Wᵀ (+ bias) where row i of y is bit-identical
    /// to `apply(x + i * cols, n: 1, ...)` whatever n is: the decode (row-dot)
    /// arithmetic for every row, with each weight row read once for all n.
    public func applyDecodeRows(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>,
                                bias: UnsafePointer<Float>? = nil, activations: ActivationPrecision = .float32) {
        guard n > 0, rows > 0 else { return }
        if n == 1 || cols == 0 {
            // One row (or no columns) is exactly `apply`'s own decode path.
            for i in 0..<n { apply(x + i * cols, n: 1, into: y + i * rows, bias: bias, activations: activations) }
            return
        }
        // Every 8-bit dot is an integer sum scaled per block, independent of
        // the other rows: the one-row path's own pass takes all n at once.
        if activations == .int8 && applyInt8(x, n: n, into: y, bias: bias) { return }
        let blocks = cols / 32
        let needsSums = isInterleaved && type == .q4_1
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: max(1, needsSums ? n * blocks : 1))
        defer { sums.deallocate() }
        if needsSums {
            for i in 0..<n { GGMLQuants.blockSums(x + i * cols, count: cols, into: sums + i * blocks) }
        }
        let py = UncheckedSendable(y), pb = UncheckedSendable(bias), px = UncheckedSendable(x)
        let ps = UncheckedSendable(UnsafePointer(sums))
        // n rows of work per weight byte: the same work per chunk as one row's.
        let grain = max(1, decodeGrain / n)
        let rows = self.rows, cols = self.cols
        Parallel.forEach(0..<rows, minimumChunk: grain) { range in
            let out = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { out.deallocate() }
            switch (isInterleaved, type) {
            case (true, .q4_1):
                let acc = UnsafeMutablePointer<F8>.allocate(capacity: 2 * n)
                let accM = UnsafeMutablePointer<SIMD2<Float>>.allocate(capacity: n)
                defer { acc.deallocate(); accM.deallocate() }
                for r in range {
                    InterleavedQuants.dotQ4_1Rows(rowPointer(r), px.value, n: n, cols: cols, xSums: ps.value,
                                                  acc: acc, accM: accM, into: out)
                    for i in 0..<n { py.value[i * rows + r] = out[i] + (pb.value?[r] ?? 0) }
                }
            case (true, _):
                let acc = UnsafeMutablePointer<F8>.allocate(capacity: 2 * n)
                defer { acc.deallocate() }
                for r in range {
                    InterleavedQuants.dotQ8_0Rows(rowPointer(r), px.value, n: n, cols: cols, acc: acc, into: out)
                    for i in 0..<n { py.value[i * rows + r] = out[i] + (pb.value?[r] ?? 0) }
                }
            case (false, _):
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: GGMLQuants.scratchElements(type, cols: cols))
                defer { scratch.deallocate() }
                for r in range {
                    GGMLQuants.dotRows(type, rowPointer(r), px.value, n: n, cols: cols, scratch: scratch, into: out)
                    for i in 0..<n { py.value[i * rows + r] = out[i] + (pb.value?[r] ?? 0) }
                }
            }
        }
    }
}

extension InterleavedQuants {
    /// `dotQ4_1(row, x_i, cols, xSums_i)` for the n rows x_i = x + i·cols
    /// (sums xSums + i·cols/32) into out[i], each group's nibbles unpacked once.
    /// Per row the operations and their order are `dotQ4_1`'s.
    @inline(__always)
    static func dotQ4_1Rows(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, n: Int, cols: Int,
                            xSums: UnsafePointer<Float>, acc: UnsafeMutablePointer<F8>,
                            accM: UnsafeMutablePointer<SIMD2<Float>>, into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        for i in 0..<n {
            acc[2 * i] = F8()
            acc[2 * i + 1] = F8()
            accM[i] = SIMD2<Float>()
        }
        for g in 0..<(cols / 64) {
            let p = row + 40 * g
            let w = p.loadUnaligned(as: U8.self)
            let w0 = smallToFloat(w & 0x0F), w1 = smallToFloat((w &>> 4) & 0x0F)
            let w2 = smallToFloat((w &>> 8) & 0x0F), w3 = smallToFloat((w &>> 12) & 0x0F)
            let w4 = smallToFloat((w &>> 16) & 0x0F), w5 = smallToFloat((w &>> 20) & 0x0F)
            let w6 = smallToFloat((w &>> 24) & 0x0F), w7 = smallToFloat(w &>> 28)
            let dm = halves4(p + 32)  // d0, m0, d1, m1
            let d0 = F8(repeating: dm[0]), d1 = F8(repeating: dm[2]), m = SIMD2(dm[1], dm[3])
            for i in 0..<n {
                let xb = x + i * cols + 64 * g
                var s0 = w0 * loadF8(xb)
                s0 = multiplyAdd(s0, w1, loadF8(xb + 8))
                s0 = multiplyAdd(s0, w2, loadF8(xb + 16))
                s0 = multiplyAdd(s0, w3, loadF8(xb + 24))
                var s1 = w4 * loadF8(xb + 32)
                s1 = multiplyAdd(s1, w5, loadF8(xb + 40))
                s1 = multiplyAdd(s1, w6, loadF8(xb + 48))
                s1 = multiplyAdd(s1, w7, loadF8(xb + 56))
                acc[2 * i] = multiplyAdd(acc[2 * i], d0, s0)
                acc[2 * i + 1] = multiplyAdd(acc[2 * i + 1], d1, s1)
                accM[i].addProduct(m, UnsafeRawPointer(xSums + i * blocks + 2 * g).loadUnaligned(as: SIMD2<Float>.self))
            }
        }
        for i in 0..<n { out[i] = (acc[2 * i] + acc[2 * i + 1]).sum() + accM[i].sum() }
    }

    /// `dotQ8_0(row, x_i, cols)` for the n rows x_i = x + i·cols into out[i],
    /// each block's bytes widened once. Per row the operations and their order
    /// (two alternating accumulators) are `dotQ8_0`'s.
    @inline(__always)
    static func dotQ8_0Rows(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, n: Int, cols: Int,
                            acc: UnsafeMutablePointer<F8>, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<(2 * n) { acc[i] = F8() }
        let blocks = cols / 32
        // Block b goes to accumulator 0 when even, 1 when odd: dotQ8_0's pairs,
        // with an odd last block landing in accumulator 0 as there.
        for b in 0..<blocks {
            let p = row + 34 * b
            let w = p.loadUnaligned(as: U8.self)
            let w0 = signedByteToFloat(w, 0), w1 = signedByteToFloat(w, 1)
            let w2 = signedByteToFloat(w, 2), w3 = signedByteToFloat(w, 3)
            let d = F8(repeating: halfToFloat(p, 32))
            let k = b & 1
            for i in 0..<n {
                let xb = x + i * cols + 32 * b
                var s = w0 * loadF8(xb)
                s = multiplyAdd(s, w1, loadF8(xb + 8))
                s = multiplyAdd(s, w2, loadF8(xb + 16))
                s = multiplyAdd(s, w3, loadF8(xb + 24))
                acc[2 * i + k] = multiplyAdd(acc[2 * i + k], d, s)
            }
        }
        for i in 0..<n { out[i] = (acc[2 * i] + acc[2 * i + 1]).sum() }
    }
}

extension GGMLQuants {
    /// `dot(type, row, x_i, cols, scratch)` for the n rows x_i = x + i·cols
    /// into out[i], each chunk of the row dequantised once.
    static func dotRows(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, n: Int, cols: Int,
                        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        if type == .f32 {
            let w = row.assumingMemoryBound(to: Float.self)
            for i in 0..<n { out[i] = dot8(w, x + i * cols, cols) }
            return
        }
        for i in 0..<n { out[i] = 0 }
        let chunk = scratchElements(type, cols: cols)
        var c = 0
        while c < cols {
            let m = min(chunk, cols - c)
            dequantize(type, row + c / type.blockSize * type.bytesPerBlock, into: scratch, count: m)
            for i in 0..<n { out[i] += dot8(scratch, x + i * cols + c, m) }
            c += m
        }
    }
}
