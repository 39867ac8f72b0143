import Foundation
import Tensor

/// Writes f32 tensors as a safetensors file (the layout `SafeTensors` reads:
/// 8-byte little-endian header length, JSON header, raw data), atomically:
/// the bytes go to a temporary file beside the target, which is flushed and
/// renamed over it, so a crash leaves either the old file or the new one.
public enum SafeTensorsWriter {
    /// `tensors` are written in the given order; `metadata` becomes `__metadata__`.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, tensor) in tensors {
            guard seen.insert(name).inserted else {
                throw ModelFormatError.invalidHeader(file: url.path, what: "tensor '\(name)'", reason: "written twice")
            }
            let bytes = 4 * tensor.count
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        } catch {
            throw ModelFormatError.io(file: url.path, reason: "cannot encode the header: \(error)")
        }
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, tensor) in tensors {
            tensor.data.withUnsafeBufferPointer { p in
                #if _endian(big)
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
                #else
                out.append(UnsafeBufferPointer(start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self), count: 4 * p.count))
                #endif
            }
        }
        try writeAtomically(out, to: url)
    }

    /// Writes `data` to a temporary sibling, syncs it and renames it over `url`.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: temporary.path, contents: nil)
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary.path, url.path) != 0 {
                throw ModelFormatError.io(file: url.path, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch let error as ModelFormatError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ModelFormatError.io(file: url.path, reason: error.localizedDescription)
        }
    }
}
