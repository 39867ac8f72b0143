import Foundation
import Testing
import TestSupport
import Tensor
@testable import ModelFormats

/// Checksums are float64 sums of f32 values; numpy sums pairwise, we sum in
/// order, so they agree to rounding of the double accumulator.
let checksumRelativeTolerance = 1e-9

struct ValueChecks: Decodable {
    let rows: [String: [Float]]
    let sum: Double
    let abs_sum: Double
}

func verify(_ t: Tensor, _ c: ValueChecks, name: String) {
    let cols = t.rank > 1 ? t.lastDimension : t.count
    for (r, expected) in c.rows {
        guard let r = Int(r) else { continue }
        #expect(Array(t.data[(r * cols)..<(r * cols + expected.count)]) == expected, "\(name) row \(r)")
    }
    var s: Double = 0, a: Double = 0
    for v in t.data { s += Double(v); a += Double(abs(v)) }
    #expect(abs(s - c.sum) <= checksumRelativeTolerance * max(1, c.abs_sum), "\(name) sum")
    #expect(abs(a - c.abs_sum) <= checksumRelativeTolerance * max(1, c.abs_sum), "\(name) abs sum")
}

struct SmolLM2Reference: Decodable {
    struct Strings: Decodable { let count: Int; let first: [String]; let last: [String] }
    struct Tokens: Decodable { let count: Int; let first: [String]; let last: [String]; let at_1000: String }
    struct Types: Decodable { let count: Int; let first: [Int] }
    struct TensorInfo: Decodable { let name: String; let type: String; let ne: [Int] }
    let version: Int
    let metadata: [String: JSONScalar]
    let key_count: Int
    let tokens: Tokens
    let merges: Strings
    let token_type: Types
    let tensors: [TensorInfo]
    let checks: [String: ValueChecks]
}

enum JSONScalar: Decodable, Equatable {
    case int(Int), double(Double), string(String), bool(Bool), strings([String])
    init(from d: Decoder) throws {
        let c = try d.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let x = try? c.decode(Double.self) { self = .double(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .strings(try c.decode([String].self)) }
    }
}

@Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
func smolLM2GGUFMatchesGGUFPython() throws {
    let ref = try JSONDecoder().decode(SmolLM2Reference.self, from: Data(contentsOf: fixtureURL("smollm2_gguf_reference.json")))
    let f = try GGUFFile(contentsOf: Assets.smollm2GGUF)
    let m = f.metadata
    #expect(f.version == ref.version)
    #expect(m.keys.count == ref.key_count)
    for (key, v) in ref.metadata {
        switch v {
        // JSON does not keep 100000.0 apart from 100000; float() reads both.
        case let .int(i): #expect(try m.float(key) == Double(i), "\(key)")
        case let .double(x): #expect(try m.float(key) == x, "\(key)")
        case let .string(s): #expect(try m.string(key) == s, "\(key)")
        case let .bool(b): #expect(try m.bool(key) == b, "\(key)")
        case let .strings(a): #expect(try m.stringArray(key) == a, "\(key)")
        }
    }
    let tokens = try m.stringArray("tokenizer.ggml.tokens")
    #expect(tokens.count == 49152 && tokens.count == ref.tokens.count)
    #expect(Array(tokens.prefix(ref.tokens.first.count)) == ref.tokens.first)
    #expect(Array(tokens.suffix(ref.tokens.last.count)) == ref.tokens.last)
    #expect(tokens[1000] == ref.tokens.at_1000)
    let merges = try m.stringArray("tokenizer.ggml.merges")
    #expect(merges.count == ref.merges.count && Array(merges.prefix(5)) == ref.merges.first && Array(merges.suffix(3)) == ref.merges.last)
    let types = try m.intArray("tokenizer.ggml.token_type")
    #expect(types.count == ref.token_type.count && Array(types.prefix(20)) == ref.token_type.first)

    // Every tensor: same name, type, dimensions; every type present is supported.
    #expect(f.tensors.map(\.name) == ref.tensors.map(\.name))
    for (t, r) in zip(f.tensors, ref.tensors) {
        #expect(t.type.description == r.type && t.ne == r.ne, "\(t.name)")
        #expect(t.type.isSupported, "\(t.name) is \(t.type)")
    }
    #expect(Set(f.tensors.map(\.type)) == [.f32, .q4_1, .q8_0])
    for (name, c) in ref.checks {
        verify(try f.tensor(named: name).dequantized(), c, name: name)
    }
    // Row access without dequantising the whole embedding matrix.
    let embd = try f.tensor(named: "token_embd.weight").quantizedMatrix()
    #expect(embd.rows == 49152 && embd.cols == 576)
    #expect(embd.gatherRows([1000]).data.prefix(48) == ArraySlice(ref.checks["token_embd.weight"]!.rows["1000"]!))
}

struct MiniLMReference: Decodable {
    struct Info: Decodable { let name: String; let dtype: String; let shape: [Int] }
    let tensors: [Info]
    let metadata: [String: String]
    let checks: [String: ValueChecks]
}

@Test(.enabled(if: Assets.enabled(Assets.minilm)))
func miniLMSafeTensorsMatchesPython() throws {
    let ref = try JSONDecoder().decode(MiniLMReference.self, from: Data(contentsOf: fixtureURL("minilm_safetensors_reference.json")))
    let st = try SafeTensors(contentsOf: Assets.minilm.appendingPathComponent("model.safetensors"))
    #expect(st.names == ref.tensors.map(\.name))
    #expect(st.metadata == ref.metadata)
    for r in ref.tensors {
        let e = try st.entry(named: r.name)
        #expect(e.dtype.rawValue == r.dtype && e.shape == r.shape, "\(r.name)")
    }
    for (name, c) in ref.checks {
        verify(try st.tensor(named: name), c, name: name)
    }
}
