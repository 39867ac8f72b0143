import Foundation
import Tensor
@testable import ModelFormats

func fixtureURL(_ name: String) throws -> URL {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        throw ModelFormatError.io(file: name, reason: "fixture missing")
    }
    return url
}

func parseGGUF(_ bytes: [UInt8]) throws -> GGUFFile {
    try GGUFFile(storage: ByteStorage(copying: bytes), path: "crafted.gguf")
}

/// Writes GGUF bytes field by field, so tests can corrupt exactly one thing.
struct GGUFBuilder {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var alignment = 32
    var kvs: [(key: String, type: UInt32, payload: [UInt8])] = []
    var tensors: [(name: String, ne: [UInt64], type: UInt32, offset: UInt64)] = []
    var data: [UInt8] = []

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func add(_ key: String, u32 v: UInt32) { kvs.append((key, 4, Self.le(v))) }
    mutating func add(_ key: String, string v: String) { kvs.append((key, 8, Self.str(v))) }

    /// A tensor of `type` whose bytes are appended to the data section.
    mutating func addTensor(_ name: String, ne: [UInt64], type: GGMLType, bytes: [UInt8]) {
        while data.count % alignment != 0 { data.append(0) }
        tensors.append((name, ne, type.rawValue, UInt64(data.count)))
        data += bytes
    }

    func bytes() -> [UInt8] {
        var out = magic + Self.le(version) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(kvs.count))
        for kv in kvs { out += Self.str(kv.key) + Self.le(kv.type) + kv.payload }
        for t in tensors {
            out += Self.str(t.name) + Self.le(UInt32(t.ne.count))
            for d in t.ne { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }
}

func floatBytes(_ v: [Float]) -> [UInt8] { v.flatMap { GGUFBuilder.le($0.bitPattern) } }
