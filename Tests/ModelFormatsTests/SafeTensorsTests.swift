import Foundation
import Testing
import Tensor
@testable import ModelFormats

/// Writes a safetensors file from a header JSON string and raw data.
func writeSafeTensors(header: String, data: [UInt8], headerLength: UInt64? = nil) throws -> URL {
    let h = Array(header.utf8)
    let bytes = GGUFBuilder.le(headerLength ?? UInt64(h.count)) + h + data
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("limrank-st-\(UUID().uuidString).safetensors")
    try Data(bytes).write(to: url)
    return url
}

@Suite struct SafeTensorsCraftedTests {
    @Test func f32F16BF16AndIntegerTensors() throws {
        let f32 = floatBytes([1.5, -2, 0.25, 3])
        let f16: [UInt8] = [Float16(0.5), Float16(-1), Float16(65504)].flatMap { GGUFBuilder.le($0.bitPattern) }
        let bf16: [UInt8] = [Float(1.25), -3].flatMap { GGUFBuilder.le(UInt16($0.bitPattern >> 16)) }
        let i64: [UInt8] = [Int64(0), 7, -2].flatMap { GGUFBuilder.le($0) }
        let header = """
        {"__metadata__":{"format":"pt"},
         "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
         "h":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},
         "b":{"dtype":"BF16","shape":[2,1],"data_offsets":[22,26]},
         "ids":{"dtype":"I64","shape":[1,3],"data_offsets":[26,50]}}
        """
        let url = try writeSafeTensors(header: header, data: f32 + f16 + bf16 + i64)
        defer { try? FileManager.default.removeItem(at: url) }
        let st = try SafeTensors(contentsOf: url)
        #expect(st.names == ["a", "b", "h", "ids"])
        #expect(st.metadata == ["format": "pt"])
        #expect(try st.entry(named: "h").dtype == .f16)
        #expect(try st.tensor(named: "a") == Tensor(shape: [2, 2], data: [1.5, -2, 0.25, 3]))
        #expect(try st.tensor(named: "h").data == [0.5, -1, 65504])
        #expect(try st.tensor(named: "b") == Tensor(shape: [2, 1], data: [1.25, -3]))
        #expect(try st.tensor(named: "ids").data == [0, 7, -2])
        #expect(throws: ModelFormatError.missingTensor(file: url.path, tensor: "zz")) { try st.tensor(named: "zz") }
    }

    @Test func truncatedAndCorruptHeaders() throws {
        let tiny = FileManager.default.temporaryDirectory.appendingPathComponent("limrank-st-\(UUID().uuidString)")
        try Data([1, 2, 3]).write(to: tiny)
        defer { try? FileManager.default.removeItem(at: tiny) }
        #expect(throws: ModelFormatError.truncated(file: tiny.path, what: "header length", offset: 0)) { try SafeTensors(contentsOf: tiny) }

        let long = try writeSafeTensors(header: "{}", data: [], headerLength: 1000)
        defer { try? FileManager.default.removeItem(at: long) }
        #expect(throws: ModelFormatError.truncated(file: long.path, what: "JSON header of 1000 bytes", offset: 8)) { try SafeTensors(contentsOf: long) }

        let junk = try writeSafeTensors(header: "{not json", data: [])
        defer { try? FileManager.default.removeItem(at: junk) }
        #expect(throws: ModelFormatError.invalidHeader(file: junk.path, what: "JSON header", reason: "not a JSON object")) { try SafeTensors(contentsOf: junk) }
    }

    @Test func badEntriesNameTheTensor() throws {
        let cases: [(String, [UInt8], (String) -> ModelFormatError)] = [
            (#"{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, [0],
             { .unsupportedTensorType(file: $0, tensor: "x", type: "F8_E4M3") }),
            (#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8),
             { .shapeMismatch(file: $0, tensor: "x", reason: "shape [3] of F32 needs 12 bytes, data_offsets give 8") }),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 0, 0],
             { .tensorOutOfBounds(file: $0, tensor: "x", range: 62..<70, fileSize: 66) }),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, [],
             { .invalidHeader(file: $0, what: "entry for tensor 'x'", reason: "data_offsets is not [begin, end]") }),
            (#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, [],
             { .invalidHeader(file: $0, what: "entry for tensor 'x'", reason: "shape is not a list of non-negative integers") }),
            // 2^62 elements of 4 bytes overflow Int: refused, not a trap.
            (#"{"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, [0, 0, 0, 0],
             { .shapeMismatch(file: $0, tensor: "x", reason: "shape [4611686018427387904] of F32 needs more bytes than a file holds, data_offsets give 4") }),
            // What a corrupted offset does (found by fuzzing MiniLM's file):
            // y would read x's last 4 bytes. The safetensors library refuses
            // overlaps, holes and trailing bytes; so does this reader.
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
             [UInt8](repeating: 0, count: 12),
             { .invalidHeader(file: $0, what: "data_offsets of tensor 'y'", reason: "it begins at 4, where the tensors before it end at 8 (the data must be contiguous)") }),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#,
             [UInt8](repeating: 0, count: 16),
             { .invalidHeader(file: $0, what: "data_offsets of tensor 'y'", reason: "it begins at 12, where the tensors before it end at 8 (the data must be contiguous)") }),
            (#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, [UInt8](repeating: 0, count: 6),
             { .invalidHeader(file: $0, what: "data section", reason: "2 bytes follow the last tensor's data") }),
        ]
        for (header, data, err) in cases {
            let url = try writeSafeTensors(header: header, data: data)
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(throws: err(url.path)) { try SafeTensors(contentsOf: url) }
        }
    }
}
