import Foundation

/// The order examples are visited in: a fresh shuffle each epoch, drawn from
/// its own stream of the run seed, so the position (epoch, offset) is all a
/// checkpoint needs to continue exactly where an interrupted run stopped.
public struct DataOrder: Sendable, Hashable, Codable {
    public let seed: UInt64
    public let count: Int
    public let shuffle: Bool
    /// Current epoch (0-based) and the next offset in its order.
    public private(set) var epoch: Int
    public private(set) var offset: Int

    public init(count: Int, seed: UInt64, shuffle: Bool = true, epoch: Int = 0, offset: Int = 0) throws {
        guard count > 0 else { throw TrainingError.invalidParameter(name: "examples", reason: "no example to order") }
        guard epoch >= 0, offset >= 0, offset <= count else {
            throw TrainingError.invalidParameter(name: "data position", reason: "epoch \(epoch), offset \(offset) of \(count)")
        }
        self.count = count
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = epoch
        self.offset = offset
    }

    /// The visiting order of `epoch`.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<count) }
        var rng = TrainingRNG(seed: seed, stream: 0x5348_5546 &+ UInt64(epoch))  // "SHUF" + epoch
        return rng.permutation(count)
    }

    /// The next `size` example indices; a batch never spans two epochs (the
    /// last batch of an epoch may be short, as a DataLoader with drop_last=False).
    public mutating func nextBatch(size: Int) -> (epoch: Int, indices: [Int]) {
        precondition(size > 0)
        if offset >= count {
            epoch += 1
            offset = 0
        }
        let order = order(epoch: epoch)
        let end = min(offset + size, count)
        let batch = Array(order[offset..<end])
        let e = epoch
        offset = end
        return (e, batch)
    }

    /// One epoch's batches under sentence-transformers' NoDuplicatesBatchSampler:
    /// walk the epoch's order, put an example into the batch unless one of
    /// its keys (its texts, or the documents they are) is already there, and
    /// yield the batch when it holds `size`; what is skipped waits for a later
    /// batch, and the last ones may be short (drop_last=False).
    public static func noDuplicateBatches(order: [Int], size: Int, keys: [[Int]]) -> [[Int]] {
        precondition(size > 0)
        var remaining = order, batches: [[Int]] = []
        while !remaining.isEmpty {
            var batch: [Int] = [], seen = Set<Int>(), taken = Set<Int>()
            for index in remaining {
                guard keys[index].allSatisfy({ !seen.contains($0) }) else { continue }
                batch.append(index)
                taken.insert(index)
                if batch.count == size { break }
                seen.formUnion(keys[index])
            }
            batches.append(batch)
            remaining.removeAll { taken.contains($0) }
        }
        return batches
    }

    /// The next batch when batches must not repeat a key (`noDuplicateBatches`
    /// of each epoch's order, kept in `cache`); `offset` counts the examples
    /// of the epoch's batches already taken, so a checkpoint resumes at the
    /// batch it stopped before.
    public mutating func nextBatch(size: Int, keys: [[Int]], cache: inout (epoch: Int, batches: [[Int]], starts: [Int: Int])?) throws
        -> (epoch: Int, indices: [Int]) {
        precondition(size > 0 && keys.count == count)
        if offset >= count {
            epoch += 1
            offset = 0
        }
        if cache?.epoch != epoch {
            let batches = Self.noDuplicateBatches(order: order(epoch: epoch), size: size, keys: keys)
            var starts: [Int: Int] = [:], start = 0
            for (i, b) in batches.enumerated() {
                starts[start] = i
                start += b.count
            }
            cache = (epoch, batches, starts)
        }
        guard let i = cache!.starts[offset] else {
            throw TrainingError.invalidParameter(name: "data position", reason: "offset \(offset) of epoch \(epoch) is not the start of a batch")
        }
        let batch = cache!.batches[i]
        offset += batch.count
        return (epoch, batch)
    }

    /// Splits examples into training and validation sets: a seeded
    /// permutation, its first ⌈count × fraction⌉ held out (Hugging Face
    /// datasets' `train_test_split`, as LLaMA-Factory's `val_size` uses it),
    /// at most count − 1 and none from a single example. Both keep the input order.
    public static func validationSplit<Example>(_ examples: [Example], fraction: Double, seed: UInt64) throws
        -> (training: [Example], validation: [Example]) {
        guard fraction >= 0, fraction < 1 else {
            throw TrainingError.invalidParameter(name: "validation-fraction", reason: "must be in [0, 1), got \(fraction)")
        }
        guard fraction > 0, examples.count >= 2 else { return (examples, []) }
        var rng = TrainingRNG(seed: seed, stream: 0x5641_4C49)  // "VALI"
        let order = rng.permutation(examples.count)
        let held = min(examples.count - 1, Int((Double(examples.count) * fraction).rounded(.up)))
        let heldSet = Set(order.prefix(held))
        return (examples.indices.filter { !heldSet.contains($0) }.map { examples[$0] },
                heldSet.sorted().map { examples[$0] })
    }
}
