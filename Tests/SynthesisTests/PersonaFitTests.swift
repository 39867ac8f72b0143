import Datasets
import Foundation
import LanguageModels
import Testing
@testable import Synthesis

/// Corpus mode fits a persona to each document: a seed persona asks only
/// when the embedder puts it near the document; else the neutral reader.
@Suite struct PersonaFitTests {
    static let personas = [
        "a beekeeper worried about honeybee colonies in winter",
        "a home baker whose sourdough dough will not rise",
        "a jet engine designer checking compressor turbine blades for fatigue",
        "a tax accountant preparing quarterly returns",
    ]

    @Test func personasFitTheirDocumentsOrNone() async throws {
        var settings = CorpusSynthesisTests.settings(filter: "dense")
        // The hashing embedder's cosines are low: a persona sharing two or three
        // words with its document scores 0.19 to 0.33, unrelated pairs below 0.13.
        settings.corpusPersonaMinSimilarity = 0.15
        let dir = try CorpusSynthesisTests.writeCollection(garbageQueries: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try await SynthesisCorpus.prepare(try CranfieldDataset.loadDocuments(directory: dir), embedder: HashingEmbedder(), settings: settings)
        let fit = try await PersonaFit(personas: Self.personas, embedder: HashingEmbedder(), minimumSimilarity: settings.corpusPersonaMinSimilarity)
        func position(_ id: String) throws -> Int { try #require(corpus.position(of: id)) }

        // Each themed document's best fit is its own persona, above the bar; nobody fits glaciers.
        #expect(fit.fitting(try position("2"), in: corpus).first?.persona == Self.personas[0])
        #expect(fit.fitting(try position("3"), in: corpus).first?.persona == Self.personas[1])
        #expect(fit.fitting(try position("1"), in: corpus).first?.persona == Self.personas[2])
        let glaciers = try position("9")
        #expect(fit.fitting(glaciers, in: corpus).isEmpty)
        #expect(fit.persona(forItem: 0, runSeed: 5, position: glaciers, in: corpus) == PersonaFit.neutral)
        // The accountant fits nothing here.
        for p in corpus.eligible { #expect(!fit.fitting(p, in: corpus).map(\.persona).contains(Self.personas[3])) }
        // Every fitting persona clears the bar, and the cosine is the embedder's.
        for p in corpus.eligible {
            for candidate in fit.fitting(p, in: corpus) {
                #expect(candidate.similarity >= 0.15)
                let vector = HashingEmbedder().vector(candidate.persona)
                #expect(abs(candidate.similarity - corpus.denseScore(vector, p)) < 1e-9)
            }
        }
        // Draws are per item and reproducible.
        let picks = (0..<8).map { fit.persona(forItem: $0, runSeed: 5, position: try! position("1"), in: corpus) }
        #expect(picks == (0..<8).map { fit.persona(forItem: $0, runSeed: 5, position: try! position("1"), in: corpus) })

        // A whole LLM-query run: every item's persona fits its source document or is the neutral one.
        let seeds = try SeedSet(personas: Self.personas.map(Persona.init), domains: [Domain("unused", kind: .expert)])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("persona-fit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        _ = try await SynthesisPipeline(generator: CorpusSynthesisTests.model, settings: settings, seeds: seeds, corpus: corpus)
            .run(outputDirectory: out)
        let accepted = try SynthesisStore.readJSONLines(SyntheticExample.self, from: out.appendingPathComponent("pool.jsonl"))
        let rejected = try SynthesisStore.readJSONLines(RejectedItem.self, from: out.appendingPathComponent("rejected.jsonl"))
        var checked = 0
        for (persona, documentID) in accepted.map({ ($0.seed.persona, $0.positives[0].documentID) }) + rejected.map({ ($0.seed.persona, $0.documentID) }) {
            let p = try position(try #require(documentID))
            let allowed = fit.fitting(p, in: corpus).map(\.persona) + [PersonaFit.neutral]
            #expect(allowed.contains(persona), "document \(documentID ?? "") asked by \(persona)")
            checked += 1
        }
        #expect(checked == settings.maxItems)
        #expect(accepted.contains { $0.seed.persona != PersonaFit.neutral })
    }
}
