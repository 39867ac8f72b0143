import ArgumentParser
import Datasets
import Foundation
import Retrieval

/// `limrank bench bm25`: the Swift side of Scripts/bench/bm25_bench.sh, which
/// runs bm25s on the same files in the same run and prints the ratios.
struct BenchBM25Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bm25",
        abstract: "BM25 index build time and query throughput on a TSV corpus.",
        discussion: """
            --docs and --queries are UTF-8 files with one "id<TAB>text" record per line. \
            Prints one JSON object: build, save and load seconds, index sizes and queries/s \
            (all queries searched in parallel over cores, repeated until --min-seconds have passed).
            """,
        shouldDisplay: false)

    @Option(help: "Documents, one \"id<TAB>text\" per line.")
    var docs: String

    @Option(help: "Queries, one \"id<TAB>text\" per line.")
    var queries: String

    @Option(name: .customLong("top-k"), help: "Results per query.")
    var topK = 100

    @Option(help: "Time query passes until at least this many seconds have passed.")
    var minSeconds = 2.0

    func validate() throws {
        guard topK > 0 else { throw ValidationError("--top-k must be positive") }
        guard minSeconds >= 0 else { throw ValidationError("--min-seconds must not be negative") }
    }

    func run() async throws {
        let documents = try Self.readTSV(docs).map { Document(id: $0.0, text: $0.1) }
        let queryList = try Self.readTSV(queries).map { Query(id: $0.0, text: $0.1) }

        let clock = ContinuousClock()
        let total = documents.count
        let buildStart = clock.now
        let index = BM25Index.build(documents: documents) { done, all in
            // Build chunks are 2048 documents: report each 10% crossed.
            if total >= 100_000 && done * 10 / all > max(0, done - 2048) * 10 / all {
                FileHandle.standardError.write(Data("bm25 bench: analyzed \(done)/\(all) documents\n".utf8))
            }
        }
        let build = clock.now - buildStart

        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("limrank-bench-bm25-\(ProcessInfo.processInfo.processIdentifier).index")
        defer { try? FileManager.default.removeItem(at: file) }
        let saveStart = clock.now
        try index.save(to: file)
        let save = clock.now - saveStart
        let loadStart = clock.now
        let loaded = try BM25Index.load(from: file)
        let load = clock.now - loadStart
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0

        _ = await loaded.search(queryList, topK: topK)  // warm-up
        var passes = 0
        let searchStart = clock.now
        repeat {
            _ = await loaded.search(queryList, topK: topK)
            passes += 1
        } while (clock.now - searchStart).seconds < minSeconds
        let search = clock.now - searchStart

        let report: [String: Any] = [
            "documents": index.documentCount, "terms": index.termCount, "postings": index.postingCount,
            "index_bytes": bytes, "build_s": build.seconds, "save_s": save.seconds, "load_s": load.seconds,
            "queries": queryList.count, "passes": passes,
            "queries_per_s": Double(queryList.count * passes) / search.seconds,
            "threads": ProcessInfo.processInfo.activeProcessorCount,
        ]
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    static func readTSV(_ path: String) throws -> [(String, String)] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("\(path): cannot read: \(error.localizedDescription)")
        }
        var out: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let tab = line.firstIndex(of: "\t") else {
                throw ValidationError("\(path):\(n + 1): expected \"id<TAB>text\"")
            }
            out.append((String(line[..<tab]), String(line[line.index(after: tab)...])))
        }
        return out
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
