import Foundation
import Testing
import Tensor
import TestSupport
@testable import Models

/// The KV cache keeps only a sliding layer's window and slack
/// (`KVCache.slidingSlack`), moving the still-visible rows to the front when
/// the next tokens do not fit. On tiny-gemma3 (layers [sliding, full,
/// sliding], window 4) with slacks of 1-3, so that rows move every few
/// tokens: decoding gives the logits of a cache that keeps everything bit for
/// bit, prefill slices stay within the parity tolerance of transformers, and
/// a prefix the layers dropped is refused instead of read.
@Suite struct SlidingWindowCacheTests {
    static func model() throws -> LlamaModel { try Gemma3Tests.model() }
    static func sequence() throws -> QwenTests.Reference.Sequence {
        try QwenTests.reference(Gemma3Tests.fixtureName).sequences[2]
    }

    /// One token at a time from position 0: the decode row reads the same
    /// window of rows wherever they sit in the buffer.
    @Test(arguments: [1, 2, 3])
    func decodingIsBitIdenticalToKeepingEverything(slack: Int) throws {
        let model = try Self.model(), ids = try Self.sequence().ids
        var everything = model.makeCache(capacity: ids.count)
        var compacting = model.makeCache(capacity: ids.count, slidingSlack: slack)
        #expect(everything.slidingStart == 0 && ids.count > 4 + slack)
        for (position, id) in ids.enumerated() {
            let a = try model.forward([id], cache: &everything).logits
            let b = try model.forward([id], cache: &compacting).logits
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "position \(position), slack \(slack)")
        }
        // Rows move when the next token would not fit: the first kept
        // position trails the count by the window - 1 and at most slack more.
        let behind = compacting.count - compacting.slidingStart
        #expect(compacting.slidingStart > 0 && behind >= 3 && behind <= 4 + slack)
        #expect(compacting.byteCount < everything.byteCount)
    }

    /// The buffers' sizes: global layers hold the capacity, sliding ones
    /// their window and slack (or the capacity when less); `bytes` says so
    /// before any allocation and `kvCacheBytes` uses the same count.
    @Test func slidingLayersHoldTheirWindowAndSlack() throws {
        let model = try Self.model()
        let c = model.configuration, rowBytes = c.numKeyValueHeads * c.headDim * 4
        let cache = model.makeCache(capacity: 100, slidingSlack: 6)
        #expect(cache.byteCount == 2 * rowBytes * (1 * 100 + 2 * (4 + 6)))
        #expect(cache.byteCount == KVCache.bytes(layers: 3, kvHeads: c.numKeyValueHeads, headDim: c.headDim, positions: 100,
                                                 precision: .float32, window: 4, slidingLayers: [true, false, true],
                                                 slidingSlack: 6))
        #expect(model.makeCache(capacity: 8, slidingSlack: 6).byteCount == 2 * rowBytes * 3 * 8)
        #expect(model.makeCache(capacity: 100).byteCount == 2 * rowBytes * 3 * 100)  // default slack 256 > capacity
        #expect(cache.window == 4 && cache.slidingLayers == [true, false, true])
    }

    /// Prefill slices of 3 and 5 (a slice longer than the slack makes the
    /// sliding buffers grow) match transformers' logits of every position.
    @Test(arguments: [(3, 1), (3, 2), (5, 1), (5, 3)])
    func prefillSlicesMatchTransformers(chunk: Int, slack: Int) throws {
        let model = try Self.model(), ref = try Self.sequence()
        var cache = model.makeCache(capacity: ref.ids.count, slidingSlack: slack)
        var rows: [Float] = []
        var start = 0
        while start < ref.ids.count {
            let end = min(ref.ids.count, start + chunk)
            rows += try model.forward(Array(ref.ids[start..<end]), cache: &cache, logits: .all).logits
            start = end
        }
        #expect(cache.slidingStart > 0)
        let d = QwenTests.maxDifference(rows, ref.logits.flatMap { $0 })
        #expect(d <= QwenTests.logitTolerance, "chunk \(chunk), slack \(slack): logits differ by \(d)")
    }

    /// A prompt's attention probabilities on a sliding layer whose early rows
    /// are gone still span every position: zeros where the window hid them,
    /// the same weights as a cache that kept everything.
    @Test func returnedAttentionsSpanEveryPosition() throws {
        let model = try Self.model(), ids = try Self.sequence().ids
        var everything = model.makeCache(capacity: ids.count)
        var compacting = model.makeCache(capacity: ids.count, slidingSlack: 1)
        for id in ids[0..<10] {
            _ = try model.forward([id], cache: &everything)
            _ = try model.forward([id], cache: &compacting)
        }
        #expect(compacting.slidingStart > 0)
        let tail = Array(ids[10..<13])
        let a = try model.forward(tail, cache: &everything, logits: .all, returnAttentions: [0, 2])
        let b = try model.forward(tail, cache: &compacting, logits: .all, returnAttentions: [0, 2])
        for layer in [0, 2] {
            let pa = try #require(a.attentions[layer]), pb = try #require(b.attentions[layer])
            #expect(pa.count == model.configuration.numAttentionHeads * 3 * 13 && pb.count == pa.count)
            #expect(QwenTests.maxDifference(pa, pb) <= 1e-6)
            for r in 0..<(pb.count / 13) {
                let row = pb[(r * 13)..<((r + 1) * 13)]
                #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                #expect(row.prefix(13 - 3 - 4 + 1).allSatisfy { $0 == 0 })  // the first prompt row sees 7...10
            }
        }
        #expect(QwenTests.maxDifference(a.logits, b.logits) <= 1e-5)
    }

    /// Going back to a position whose window the sliding layers dropped is
    /// refused (prefix nil, truncate throws and changes nothing); going back
    /// within what they hold continues exactly as the uncut cache would.
    @Test func aDroppedPrefixIsRefused() throws {
        let model = try Self.model(), ids = try Self.sequence().ids
        var cache = model.makeCache(capacity: ids.count, slidingSlack: 1)
        for id in ids[0..<12] { _ = try model.forward([id], cache: &cache) }
        let start = cache.slidingStart
        #expect(start > 0)
        #expect(!cache.holdsPrefix(2) && cache.prefix(2, capacity: ids.count) == nil)
        #expect(throws: ModelsError.self) { try cache.truncate(to: 2) }
        #expect(cache.count == 12)
        #expect(cache.holdsPrefix(start + 3) && !cache.holdsPrefix(start + 2))

        // Back to position 11 by prefix and by truncate, then the same token
        // as an uncut run from 11 on: the same logits.
        var full = model.makeCache(capacity: ids.count)
        for id in ids[0..<11] { _ = try model.forward([id], cache: &full) }
        let expected = try model.forward([ids[11]], cache: &full).logits
        var cut = try #require(cache.prefix(11, capacity: ids.count))
        #expect(try model.forward([ids[11]], cache: &cut).logits.map(\.bitPattern) == expected.map(\.bitPattern))
        try cache.truncate(to: 11)
        #expect(try model.forward([ids[11]], cache: &cache).logits.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// A cache made for other layers or another window is refused by name.
    @Test func aCacheOfAnotherShapeIsRefused() throws {
        let model = try Self.model(), c = model.configuration
        var noWindow = KVCache(layers: 3, kvHeads: c.numKeyValueHeads, headDim: c.headDim, capacity: 8)
        #expect(throws: ModelsError.self) { try model.forward([1], cache: &noWindow) }
        var otherWindow = KVCache(layers: 3, kvHeads: c.numKeyValueHeads, headDim: c.headDim, capacity: 8,
                                  window: 5, slidingLayers: [true, false, true])
        #expect(throws: ModelsError.self) { try model.forward([1], cache: &otherWindow) }
        var caches = [noWindow]
        #expect(throws: ModelsError.self) { try model.decodeStep([1], caches: &caches) }
    }
}
