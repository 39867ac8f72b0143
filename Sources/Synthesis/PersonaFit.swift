import LanguageModels
import Randomness

/// Corpus mode with LLM queries: who asks about a document. A persona drawn
/// at random from everyday seeds rarely has a reason to ask about, say, an
/// aerodynamics report, and a small teacher told to write "a retired nurse's"
/// question about boundary layers writes one nobody would type, which the
/// round-trip and judge filters then throw away (or, worse, keep). So a seed
/// persona asks only when the embedder finds it close enough to the document
/// (cosine >= `corpus_persona_min_similarity`), drawn among those that are;
/// otherwise a neutral reader of the document's field asks.
public struct PersonaFit: Sendable {
    /// Who asks when no seed persona fits the document.
    public static let neutral = "a researcher or engineer who needs what this document reports"

    public let personas: [String]
    let vectors: [[Float]]
    public let minimumSimilarity: Double

    public init(personas: [String], embedder: any TextEmbedder, minimumSimilarity: Double) async throws {
        self.personas = personas
        self.minimumSimilarity = minimumSimilarity
        vectors = personas.isEmpty ? [] : try await embedder.embed(personas)
    }

    /// The personas that fit the document at `position`, with their cosine, best first.
    public func fitting(_ position: Int, in corpus: SynthesisCorpus) -> [(persona: String, similarity: Double)] {
        guard corpus.isEligible(position) else { return [] }
        return personas.indices
            .map { (persona: personas[$0], similarity: corpus.denseScore(vectors[$0], position)) }
            .filter { $0.similarity >= minimumSimilarity }
            .sorted { $0.similarity != $1.similarity ? $0.similarity > $1.similarity : $0.persona < $1.persona }
    }

    /// Item `index`'s persona for the document at `position`: one of the
    /// fitting personas drawn from a generator of its own, so the item's
    /// other draws (and so its requests' seeds) are those of a run without
    /// the fit; `neutral` when none fits.
    public func persona(forItem index: Int, runSeed: UInt64, position: Int, in corpus: SynthesisCorpus) -> String {
        let candidates = fitting(position, in: corpus)
        guard !candidates.isEmpty else { return Self.neutral }
        var rng = SplitMix64(seed: runSeed ^ 0x9E25_0F17, item: index)
        return candidates[Int(rng.next() % UInt64(candidates.count))].persona
    }
}
