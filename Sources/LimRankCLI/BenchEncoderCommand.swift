import ArgumentParser
import Foundation
import Models
import Tensor

/// `limrank bench …`: the Swift side of the side-by-side benchmarks.
/// (Decoder benchmarks register beside the encoder one in `subcommands`.)
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Throughput benchmarks of the native inference engine.",
        subcommands: [BenchEncoderCommand.self, BenchDecoderCommand.self, BenchBM25Command.self, BenchTrainCommand.self, BenchRemoteCommand.self]
    )
}

/// Encoder throughput on a fixed, reproducible batch of full-length
/// sequences (Scripts/bench/encoder_bench.sh feeds the peers the same ids).
struct BenchEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "BERT encoder throughput: pairs/s and GFLOP/s over batches of full-length sequences.")

    @Option(help: "Short name, cache entry or safetensors directory.")
    var model = "minilm"

    @Option(help: "Tokens per sequence.")
    var seq = 256

    @Option(help: "Sequences per batch.")
    var batch = 32

    @Option(help: "Timed batches (after one untimed warm-up batch).")
    var iterations = 3

    @Option(help: "text or json")
    var format: OutputFormat = .text

    func validate() throws {
        guard seq > 0, batch > 0, iterations > 0 else {
            throw ValidationError("--seq, --batch and --iterations must be positive")
        }
    }

    /// Token id of position `j` in sequence `b`: a multiplicative hash into
    /// [1000, 21000), away from special tokens; the bench script computes the
    /// same formula in Python.
    static func tokenID(sequence b: Int, position j: Int, sequenceLength: Int) -> Int32 {
        let k = UInt64(b * sequenceLength + j)
        return Int32(1000 + (k &* 2_654_435_761 % 4_294_967_296) % 20000)
    }

    func run() throws {
        let (url, bert) = try validationErrors {
            let url = try ModelStore().resolve(model)
            return (url, try BERTModel(directory: url))
        }
        guard seq <= bert.configuration.maxPositionEmbeddings else {
            throw ValidationError("--seq \(seq) exceeds the model's max_position_embeddings \(bert.configuration.maxPositionEmbeddings)")
        }
        var ids = [Int32]()
        for b in 0..<batch {
            for j in 0..<seq { ids.append(Self.tokenID(sequence: b, position: j, sequenceLength: seq)) }
        }
        let input = try BERTBatch(inputIDs: ids, batchSize: batch, sequenceLength: seq)
        let log = { (s: String) in FileHandle.standardError.write(Data("[bench encoder] \(s)\n".utf8)) }
        log("\(url.lastPathComponent): batch \(batch) x \(seq) tokens, \(Parallel.threadCount) threads, warm-up")
        _ = try bert.meanPooled(input)
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        for i in 0..<iterations {
            let t = clock.now
            _ = try bert.meanPooled(input)
            let dt = clock.now - t
            elapsed += dt
            log("batch \(i + 1)/\(iterations): \(dt)")
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let pairsPerSecond = Double(batch * iterations) / seconds
        let gflops = bert.flops(sequenceLengths: Array(repeating: seq, count: batch)) * Double(iterations) / seconds / 1e9
        switch format {
        case .json:
            print("{\"pairs_per_s\": \(rounded(pairsPerSecond)), \"gflops\": \(rounded(gflops))}")
        case .text:
            print("pairs/s \(rounded(pairsPerSecond))  GFLOP/s \(rounded(gflops))  (\(batch) x \(seq), \(iterations) batches)")
        }
    }

    private func rounded(_ x: Double) -> String { String(format: "%.3f", x) }
}
