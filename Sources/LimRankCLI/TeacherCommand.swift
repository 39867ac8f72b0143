import ArgumentParser
import Datasets
import Foundation
import Reranking
import Synthesis
import Synchronization

/// `limrank teacher`: a teacher's relevance score on every passage of a
/// training file, for distillation (`limrank train cross-encoder --loss
/// mse|margin-mse`). The teacher is any reranker `rerank` and `eval` build
/// (same options, same cache), optionally fused with BM25 as `--fuse` fuses
/// them there, or BM25 alone.
struct TeacherCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher",
        abstract: "Write a teacher's \"score\" on every passage of a training file (for --loss mse / margin-mse).",
        discussion: """
            Reads examples.jsonl from `limrank synthesize` (or pair lines {"query", "passage", "label"}), \
            scores every (query, passage) with --reranker (all of a query's passages together, pair lines \
            grouped by query), and writes the same lines to --out with "score" set on each passage: the \
            reranker's own score, or with --fuse the fused one (interpolate:L is in [0, 1] per query, rrf:K \
            a reciprocal-rank sum). Without --reranker the teacher is BM25 alone.

            BM25 (for --fuse, or alone) indexes a collection's DOCUMENTS ONLY when --dataset is given (the \
            documents-only loaders `synthesize --corpus` uses; a passage is the document its "documentID" \
            names, else the document whose text it is), and otherwise the file's own distinct passages \
            (BM25 statistics then come from the training passages).

            Examples:
              limrank teacher pseudo/examples.jsonl --out scored.jsonl --reranker dense \\
                  --fuse interpolate:0.7 --dataset cranfield --data data/cranfield
              limrank teacher pairs.jsonl --out scored.jsonl \\
                  --reranker cross-encoder --model DIR
              limrank train cross-encoder --data scored.jsonl --loss mse --out ce-kd
            """)

    @Argument(help: ArgumentHelp("The training file: examples.jsonl or pair lines.", valueName: "file"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the scored file (may be the input: it is replaced atomically).", valueName: "file"))
    var out: String

    @OptionGroup(title: "Teacher") var rerankerOptions: RerankerOptions

    @OptionGroup(title: "BM25 over a collection's documents") var corpus: CorpusDatasetOptions

    /// BM25 is part of the teacher when it is fused in, or is the teacher.
    var usesBM25: Bool { rerankerOptions.reranker == nil || rerankerOptions.fuse != nil }

    func validate() throws {
        if let dataset = corpus.dataset {
            guard usesBM25 else {
                throw ValidationError("--dataset gives BM25 its documents, which only --fuse (or no --reranker, BM25 alone) uses")
            }
            if dataset == .smart {
                guard corpus.docs != nil, corpus.data == nil else { throw ValidationError("--dataset smart takes --docs FILE (the documents file)") }
            } else {
                guard corpus.data != nil, corpus.docs == nil else { throw ValidationError("--dataset \(dataset.rawValue) takes --data DIR") }
            }
            if dataset == .bright, corpus.subset == nil { throw ValidationError("--dataset bright needs --subset NAME") }
            if dataset != .bright, corpus.subset != nil || corpus.longDocuments { throw ValidationError("--subset and --long-documents are for --dataset bright") }
        } else if corpus.data != nil || corpus.docs != nil || corpus.subset != nil || corpus.longDocuments {
            throw ValidationError("--data/--docs/--subset need --dataset (the collection whose documents BM25 indexes)")
        }
    }

    func run() async throws {
        do {
            try await score()
        } catch let error as SynthesisError {
            throw ValidationError(error.description)
        } catch {
            throw validationError(error)
        }
    }

    func score() async throws {
        var file = try TeacherFile.read(URL(fileURLWithPath: input))
        Log.write("read \(file.passageCount) passages of \(file.groups.count) queries from \(input)")
        var bm25: TeacherBM25?
        if usesBM25 {
            let start = Date()
            bm25 = corpus.dataset != nil ? TeacherBM25(documents: try corpus.loadDocuments()) : TeacherBM25(passagesOf: file)
            Log.write(String(format: "BM25 indexes %@ (%.1fs)", bm25!.source, Date().timeIntervalSince(start)))
        }
        let reranker = try rerankerOptions.make()
        let scorer = try TeacherScorer(reranker: reranker, fusion: rerankerOptions.fusion, bm25: bm25)
        let teacher = [reranker.map { $0.name + " (" + (rerankerOptions.modelName ?? "") + ")" }, usesBM25 ? "bm25" : nil]
            .compactMap { $0 }.joined(separator: " + ") + (rerankerOptions.fusion.map { ", fused by \($0)" } ?? "")
        let start = Date()
        let lastPrint = Mutex(Date.distantPast)
        let total = file.passageCount
        let scores = try await scorer.scores(file) { done, queries, passages in
            let now = Date()
            let due = lastPrint.withLock { last in
                guard done == queries || now.timeIntervalSince(last) >= 2 else { return false }
                last = now
                return true
            }
            guard due else { return }
            let elapsed = now.timeIntervalSince(start)
            let rate = elapsed > 0 ? Double(passages) / elapsed : 0
            let eta = rate > 0 ? String(format: ", ETA %.0fs", Double(total - passages) / rate) : ""
            Log.write(String(format: "teacher: %d/%d queries, %d/%d passages, %.1f passages/s%@ (%.1fs)",
                             done, queries, passages, total, rate, passages < total ? eta : "", elapsed))
        }
        try file.setScores(scores)
        try file.write(to: URL(fileURLWithPath: out))
        Log.write("wrote \(out): a \"score\" on each of \(total) passages, teacher \(teacher)")
    }
}
