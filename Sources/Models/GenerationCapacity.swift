import Foundation

/// Up-front checks that a generation fits the model and the machine, so a
/// run that cannot finish is refused before any work with the limit named,
/// instead of stopping silently when the context fills up or being killed
/// when the KV cache outgrows memory.
extension TextGenerator {
    /// Bytes of the KV cache for `positions` tokens at the model's cache
    /// precision (sliding-window layers hold their window and slack only).
    public func kvCacheBytes(positions: Int) -> Int {
        let c = model.configuration
        return KVCache.bytes(layers: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim,
                             positions: positions, precision: model.kvCachePrecision, window: c.slidingWindow,
                             slidingLayers: model.cacheSlidingLayers)
    }

    /// Throws `generationTooLong` when the prompt plus `maxTokens` is past
    /// the model's context, and `cacheTooLarge` when their KV cache needs
    /// more than `availableMemory` bytes (by default what the system reports
    /// as available now; nil skips the memory check).
    public func checkCapacity(promptTokens: Int, maxTokens: Int,
                              availableMemory: Int? = SystemMemory.availableBytes()) throws {
        guard maxTokens >= 0 else { throw ModelsError.invalidInput("max tokens must be >= 0, got \(maxTokens)") }
        let context = model.contextLength
        guard promptTokens < context else {
            throw ModelsError.sequenceTooLong(length: promptTokens, maximum: context - 1)
        }
        guard promptTokens + maxTokens <= context else {
            throw ModelsError.generationTooLong(promptTokens: promptTokens, maxTokens: maxTokens, context: context)
        }
        let needed = kvCacheBytes(positions: promptTokens + maxTokens)
        if let availableMemory, needed > availableMemory {
            throw ModelsError.cacheTooLarge(positions: promptTokens + maxTokens, bytes: needed, available: availableMemory)
        }
    }
}

/// The memory a new allocation can get without swapping.
public enum SystemMemory {
    /// Linux: `MemAvailable` of /proc/meminfo; elsewhere the physical
    /// memory. Nil when neither can be read.
    public static func availableBytes() -> Int? {
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
            }
        }
        #endif
        let physical = ProcessInfo.processInfo.physicalMemory
        return physical > 0 ? Int(clamping: physical) : nil
    }
}
