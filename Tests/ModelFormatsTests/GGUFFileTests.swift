import Foundation
import Testing
import Tensor
@testable import ModelFormats

/// Fast (SIMD / sgemm) products vs a dense product of the dequantised
/// matrix: f32 rounding only.
let quantizedProductTolerance: Float = 1e-4

@Suite struct GGUFFixtureTests {
    let file: GGUFFile
    init() throws { file = try GGUFFile(contentsOf: fixtureURL("quant_types.gguf")) }

    @Test func everyMetadataValueType() throws {
        let m = file.metadata
        #expect(file.version == 3 && file.alignment == 64)
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.u64"] == .uint64(1 << 63 + 5))
        #expect(m["test.i64"] == .int64(-(1 << 62)))
        #expect(m["test.f32"] == .float32(0.15625))
        #expect(m["test.f64"] == .float64(3.141592653589793))
        #expect(try m.bool("test.bool"))
        #expect(try m.string("test.string") == "héllo, GGUF ✓")
        #expect(try m.intArray("test.ints") == [1, -2, 3])
        #expect(try m.floatArray("test.floats") == [0.5, -1.25])
        #expect(try m.stringArray("test.strings") == ["a", "", "ü"])
        #expect(m["test.bools"] == .array(.bool, [.bool(true), .bool(false)]))
        #expect(m["test.nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]))
        #expect(try m.string("general.architecture") == "limrank-test")
        #expect(try m.int("test.u16") == 60000)
        #expect(try m.float("test.f32") == 0.15625)
        #expect(try m.float("missing.key", default: 7) == 7)
        #expect(m.keys.first == "general.architecture" && m.keys.count == 19)
        // u64 above Int.max is not silently wrapped.
        #expect(throws: ModelFormatError.wrongValueType(file: file.path, key: "test.u64", expected: "integer", found: "uint64")) {
            try m.int("test.u64")
        }
        #expect(throws: ModelFormatError.missingKey(file: file.path, key: "nope")) { try m.string("nope") }
        #expect(throws: ModelFormatError.wrongValueType(file: file.path, key: "test.string", expected: "integer", found: "string")) {
            try m.int("test.string")
        }
    }

    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q4_K, .q5_K, .q6_K]

    /// Dequantisation is bit-identical to gguf.quants.dequantize.
    @Test(arguments: types)
    func dequantisationMatchesGGUFPython(type: GGMLType) throws {
        let q = try file.tensor(named: "\(type).q")
        let expected = try file.tensor(named: "\(type).expected").dequantized()
        #expect(q.type == type && q.ne == [512, 4] && q.shape == [4, 512])
        let d = try q.dequantized()
        #expect(d.shape == expected.shape)
        #expect(d.data == expected.data)
        let m = try q.quantizedMatrix()
        #expect(m.rows == 4 && m.cols == 512)
        #expect(m.dequantize().data == expected.data)
        var partial = [Float](repeating: 0, count: 2 * 512)
        partial.withUnsafeMutableBufferPointer { m.dequantizeRows(1..<3, into: $0.baseAddress!) }
        #expect(partial == Array(expected.data[512..<1536]))
        // The matrix product over the encoded bytes agrees with a dense one.
        for n in [1, 3] {
            let x = Tensor(shape: [n, 512], data: (0..<(n * 512)).map { Float(($0 * 7919) % 200) / 100 - 1 })
            let dense = Tensor.linear(x, weight: expected)
            let scale = max(1, dense.data.map(abs).max() ?? 1)
            #expect(m.apply(x).maxAbsDifference(dense) <= quantizedProductTolerance * scale)
        }
    }
}

@Suite struct GGUFCraftedFileTests {
    func valid() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "llama")
        b.add("llama.block_count", u32: 2)
        b.addTensor("w", ne: [32, 2], type: .f32, bytes: floatBytes((0..<64).map(Float.init)))
        b.addTensor("v", ne: [4], type: .f32, bytes: floatBytes([1, 2, 3, 4]))
        return b
    }

    @Test func craftedFileParsesAndVersion2IsAccepted() throws {
        var b = valid()
        let f = try parseGGUF(b.bytes())
        #expect(f.tensorNames == ["w", "v"])
        #expect(try f.tensor(named: "v").dequantized().data == [1, 2, 3, 4])
        #expect(try f.tensor(named: "w").dequantized().shape == [2, 32])
        b.version = 2
        #expect(try parseGGUF(b.bytes()).version == 2)
    }

    @Test func badMagic() {
        var b = valid()
        b.magic = Array("GGML".utf8)
        #expect(throws: ModelFormatError.badMagic(file: "crafted.gguf", found: "\"GGML\"")) { try parseGGUF(b.bytes()) }
    }

    @Test(arguments: [UInt32(1), 4])
    func unsupportedVersion(v: UInt32) {
        var b = valid()
        b.version = v
        #expect(throws: ModelFormatError.unsupportedVersion(file: "crafted.gguf", version: Int(v))) { try parseGGUF(b.bytes()) }
    }

    /// Every possible truncation fails with an error, never a crash.
    @Test func everyTruncationFails() throws {
        let bytes = valid().bytes()
        for cut in 0..<bytes.count {
            #expect(throws: ModelFormatError.self) { try parseGGUF(Array(bytes.prefix(cut))) }
        }
        #expect(throws: ModelFormatError.truncated(file: "crafted.gguf", what: "value of 'llama.block_count'", offset: 98)) {
            try parseGGUF(Array(bytes.prefix(100)))
        }
        let lastTensorCut = Array(bytes.dropLast(2))
        #expect(throws: ModelFormatError.tensorOutOfBounds(file: "crafted.gguf", tensor: "v", range: (bytes.count - 16)..<bytes.count, fileSize: bytes.count - 2)) {
            try parseGGUF(lastTensorCut)
        }
    }

    @Test func unknownValueType() {
        var b = valid()
        b.kvs.append(("odd.key", 99, [0, 0, 0, 0]))
        #expect(throws: ModelFormatError.unsupportedValueType(file: "crafted.gguf", key: "odd.key", type: 99)) { try parseGGUF(b.bytes()) }
    }

    @Test func unknownAndUnsupportedTensorTypes() throws {
        var b = valid()
        b.tensors[1].type = 99
        #expect(throws: ModelFormatError.unsupportedTensorType(file: "crafted.gguf", tensor: "v", type: "ggml type id 99")) {
            try parseGGUF(b.bytes())
        }
        var c = GGUFBuilder()
        c.addTensor("iq", ne: [256], type: .iq2_xxs, bytes: [UInt8](repeating: 0, count: 66))
        let f = try parseGGUF(c.bytes())
        #expect(throws: ModelFormatError.unsupportedTensorType(file: "crafted.gguf", tensor: "iq", type: "IQ2_XXS")) {
            try f.tensor(named: "iq").dequantized()
        }
        #expect(throws: ModelFormatError.unsupportedTensorType(file: "crafted.gguf", tensor: "iq", type: "IQ2_XXS")) {
            try f.tensor(named: "iq").quantizedMatrix()
        }
    }

    @Test func offsetPastEndOfFile() {
        var b = valid()
        b.tensors[0].offset = 1 << 20
        #expect(throws: ModelFormatError.self) { try parseGGUF(b.bytes()) }
        do {
            _ = try parseGGUF(b.bytes())
        } catch let ModelFormatError.tensorOutOfBounds(_, tensor, _, _) {
            #expect(tensor == "w")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func shapeNotWholeBlocksAndMisalignedOffset() {
        var b = GGUFBuilder()
        b.addTensor("q", ne: [100, 2], type: .q4_1, bytes: [UInt8](repeating: 0, count: 160))
        #expect(throws: ModelFormatError.shapeMismatch(file: "crafted.gguf", tensor: "q", reason: "ne [100, 2] is not a whole number of Q4_1 blocks of 32")) {
            try parseGGUF(b.bytes())
        }
        var c = valid()
        c.tensors[1].offset += 4
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "offset of tensor 'v'", reason: "260 is not a multiple of 32")) {
            try parseGGUF(c.bytes())
        }
    }

    @Test func absurdCountsFailWithoutAllocating() {
        var bytes = valid().bytes()
        // kv count := 2^62
        for i in 0..<8 { bytes[16 + i] = i == 7 ? 0x40 : 0 }
        #expect(throws: ModelFormatError.truncated(file: "crafted.gguf", what: "metadata count (4611686018427387904)", offset: 16)) {
            try parseGGUF(bytes)
        }
    }

    /// What a flipped type, shape or offset does to a real GGUF (found by
    /// fuzzing SmolLM2's file): one tensor would read another's bytes. As in
    /// llama.cpp, tensors must follow one another in the order of their infos.
    @Test func overlappingOrMisplacedTensorsAreRefused() {
        func reason(_ offset: Int, _ end: Int) -> String {
            "\(offset) where the tensors before it end at \(end) (tensors must follow one another in the order of their infos, as llama.cpp requires)"
        }
        var overlap = valid()
        overlap.tensors[1].offset = 0
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "offset of tensor 'v'", reason: reason(0, 256))) {
            try parseGGUF(overlap.bytes())
        }
        // w read as F16 is 128 bytes long: v would then start at 128, not 256.
        var retyped = valid()
        retyped.tensors[0].type = GGMLType.f16.rawValue
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "offset of tensor 'v'", reason: reason(256, 128))) {
            try parseGGUF(retyped.bytes())
        }
        var firstNotAtZero = valid()
        firstNotAtZero.data += [UInt8](repeating: 0, count: 64)
        firstNotAtZero.tensors[0].offset = 32
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "offset of tensor 'w'", reason: reason(32, 0))) {
            try parseGGUF(firstNotAtZero.bytes())
        }
        var duplicate = valid()
        duplicate.tensors[1].name = "w"
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "tensor infos", reason: "tensor 'w' appears twice")) {
            try parseGGUF(duplicate.bytes())
        }
    }

    /// Gemma 3's GGUF with one tensor's n_dims set to 0 took 4 min 43 s to fail:
    /// the infos after it were read out of step, with 234 MB of tensor data as
    /// a "name" (then printed in the error). Names longer than ggml allows stop it.
    @Test func overlongNamesFailAtOnce() {
        var long = valid()
        long.tensors[1].name = String(repeating: "n", count: 64)
        // After the header, the key/values and w's info (name, n_dims, two dims, type, offset).
        let at = 24 + long.kvs.reduce(0) { $0 + 8 + $1.key.utf8.count + 4 + $1.payload.count } + (8 + 1) + 4 + 2 * 8 + 4 + 8
        #expect(throws: ModelFormatError.invalidHeader(
            file: "crafted.gguf", what: "length of name of tensor #1 at byte \(at)",
            reason: "64 bytes, more than the format's 63")) { try parseGGUF(long.bytes()) }
        var fits = valid()
        fits.tensors[1].name = String(repeating: "n", count: 63)
        #expect(throws: Never.self) { try parseGGUF(fits.bytes()) }
        var key = valid()
        key.kvs[0].key = String(repeating: "k", count: 70_000)
        #expect(throws: ModelFormatError.invalidHeader(file: "crafted.gguf", what: "length of key #0 at byte 24", reason: "70000 bytes, more than the format's 65535")) {
            try parseGGUF(key.bytes())
        }
    }

    @Test func elementCountOverflowIsRefusedNotATrap() {
        var b = valid()
        b.tensors[0].ne = [1 << 39, 1 << 39]
        #expect(throws: ModelFormatError.shapeMismatch(file: "crafted.gguf", tensor: "w", reason: "ne [549755813888, 549755813888] has too many elements")) {
            try parseGGUF(b.bytes())
        }
    }

    @Test func missingTensorIsNamed() throws {
        let f = try parseGGUF(valid().bytes())
        #expect(throws: ModelFormatError.missingTensor(file: "crafted.gguf", tensor: "nope")) { try f.tensor(named: "nope") }
    }

    @Test func missingFileIsAnIOError() {
        #expect(throws: ModelFormatError.self) { try GGUFFile(path: "/nonexistent/x.gguf") }
    }
}
