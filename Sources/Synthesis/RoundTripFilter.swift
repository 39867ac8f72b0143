import Datasets
import LanguageModels

/// Promptagator's round-trip consistency filter (Dai et al. 2022): a
/// pseudo-query is kept only when a retriever, given the query, ranks the
/// document it was made from in its top k. Queries their own document does
/// not answer distinctly (too generic, or about something else) go.
public struct RoundTripFilter: Sendable {
    /// `bm25` and `dense` search the run's corpus (BM25, and the run's
    /// embedder); a model directory is embedded on its own (the model being
    /// trained, loaded by the one sentence-transformers loader).
    public enum Scorer: Sendable {
        case bm25
        case dense
        case model(name: String, embedder: any TextEmbedder, corpus: SynthesisCorpus)
    }

    public let scorer: Scorer
    public let k: Int

    public var scorerName: String {
        switch scorer {
        case .bm25: "bm25"
        case .dense: "dense"
        case .model(let name, _, _): name
        }
    }

    public init(scorer: Scorer, k: Int) throws {
        guard k >= 1 else { throw SynthesisError.invalidParameter(name: "round_trip_k", reason: "must be at least 1, got \(k)") }
        self.scorer = scorer
        self.k = k
    }

    /// `name`: bm25, dense, or anything else = a model, embedded with
    /// `modelEmbedder` (which the caller made from that name).
    public static func prepare(scorer name: String, k: Int, corpus: SynthesisCorpus, documents: DocumentCollection,
                               modelEmbedder: (any TextEmbedder)?, settings: SynthesisConfiguration,
                               progress: @Sendable (String) -> Void = { _ in }) async throws -> RoundTripFilter {
        switch name {
        case "bm25": return try RoundTripFilter(scorer: .bm25, k: k)
        case "dense": return try RoundTripFilter(scorer: .dense, k: k)
        default:
            guard let modelEmbedder else {
                throw SynthesisError.invalidParameter(name: "round_trip_scorer", reason: "\"\(name)\" is not bm25 or dense, and no model was loaded for it")
            }
            progress("synthesize: round-trip filter: embedding the documents with \(modelEmbedder.identifier)")
            let modelCorpus = try await SynthesisCorpus.prepare(documents, embedder: modelEmbedder, settings: settings, progress: progress)
            return try RoundTripFilter(scorer: .model(name: name, embedder: modelEmbedder, corpus: modelCorpus), k: k)
        }
    }

    /// The 1-based rank of document position `source` for `query`, or nil
    /// when it is not in the top k (the query fails the round trip).
    /// `queryVector` is the query under the run's embedder.
    public func rank(query: String, queryVector: [Float], source: Int, corpus: SynthesisCorpus) async throws -> Int? {
        let ranking: [Int]
        switch scorer {
        case .bm25: ranking = corpus.bm25Ranking(query, topK: k)
        case .dense: ranking = corpus.denseRanking(queryVector, topK: k)
        case .model(_, let embedder, let own):
            ranking = own.denseRanking(try await embedder.embed([query]).first ?? [], topK: k)
        }
        return ranking.firstIndex(of: source).map { $0 + 1 }
    }
}
