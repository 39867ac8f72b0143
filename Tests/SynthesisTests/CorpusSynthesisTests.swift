import Datasets
import Foundation
import LanguageModels
import Retrieval
import Testing
@testable import Synthesis

/// Corpus-grounded synthesis (`--corpus`) on a small Cranfield-format
/// collection written by the tests, with the scripted model: its corpus
/// queries are built from the source document's three longest words, and its
/// judge calls a passage relevant when it holds all three.
@Suite struct CorpusSynthesisTests {
    /// Twelve topics, each with its own long words; `twin` repeats the three
    /// longest words of `turbine` so it is a false negative for turbine's query.
    static let documents: [(id: String, title: String, text: String)] = [
        ("1", "turbine blades", "Compressor turbine blades experience centrifugal stresses and thermal gradients that shorten their fatigue life in service, and designers trade blade thickness against efficiency."),
        ("2", "beekeeping in winter", "Honeybee colonies overwinter by clustering tightly, shivering their flight muscles to generate warmth while consuming stored honey; ventilation prevents condensation dripping on the cluster."),
        ("3", "sourdough", "Sourdough leavening relies on lactobacilli and wild yeasts whose fermentation acidifies the dough, strengthening gluten networks and slowing staling of the finished loaf considerably."),
        ("4", "tide pools", "Intertidal organisms tolerate desiccation, salinity swings and temperature extremes; barnacles close their opercular plates at low tide to retain moisture until the water returns."),
        ("5", "", ""),
        ("6", "short", "Too short to use."),
        ("7", "orbital mechanics", "Spacecraft rendezvous requires phasing manoeuvres, because thrusting prograde raises the orbit and lengthens its period, so the chaser must first drop lower to catch up with its target."),
        ("8", "violin varnish", "Violin varnish formulations influence vibrational damping; heavier resinous coatings suppress upper partials, which listeners perceive as darker, less brilliant instrument tone overall."),
        ("9", "glaciers", "Glaciers advance when accumulation exceeds ablation; meltwater lubrication at the bedrock interface can accelerate sliding dramatically during summer, producing seasonal velocity surges."),
        ("10", "twin", "Unlike rotor hubs, compressor turbine blades suffer centrifugal loading; the experience of operators shows fatigue cracks start where stresses concentrate near the root fillet."),
        ("11", "composting", "Thermophilic composting depends on microbial respiration; turning the pile replenishes oxygen, whereas waterlogged heaps become anaerobic and release malodorous compounds instead."),
        ("12", "vaccination", "Vaccination trains adaptive immunity: antigen presentation stimulates lymphocytes, producing memory cells that respond faster and stronger upon subsequent exposure to the pathogen."),
    ]

    /// A Cranfield-format directory: documents, and a queries file that is
    /// garbage (`garbageQueries`) or holds `queries` in SMART form; no qrels.
    static func writeCollection(garbageQueries: Bool, queries: [String] = []) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var text = ""
        for d in documents {
            text += ".I \(d.id)\n.T\n\(d.title)\n.A\nsomeone\n.B\nj. test 1\n.W\n\(d.text)\n"
        }
        try text.write(to: dir.appendingPathComponent(CranfieldDataset.documentsFile), atomically: true, encoding: .utf8)
        let qry = garbageQueries
            ? "\u{0}\u{1}not a SMART file at all {{{\n"
            : queries.enumerated().map { ".I \($0.offset + 1)\n.W\n\($0.element)\n" }.joined()
        try qry.write(to: dir.appendingPathComponent(CranfieldDataset.queriesFile), atomically: true, encoding: .utf8)
        return dir
    }

    static func settings(filter: String, target: Int = 10) -> SynthesisConfiguration {
        var s = SynthesisConfiguration()
        s.target = target
        s.oversample = 1
        s.maxItems = 10
        s.seed = 5
        s.concurrency = 3
        s.judgeSamples = 1
        s.negativesPerQuery = 2
        s.minNegatives = 1
        s.instructionRate = 0.3
        s.backoffBaseSeconds = 0
        s.corpusMinWords = 10
        s.negativeDepth = 5
        s.falseNegativeFilter = filter
        // The scripted queries share a template; keep near-duplicate removal off the point of these tests.
        s.minhashThreshold = 1
        s.embeddingThreshold = 1
        return s
    }

    static let model = ScriptedLanguageModel(garbageRate: 0, judgeNoise: 0)

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("synth-corpus-\(UUID().uuidString)")
    }

    func prepare(_ dir: URL, _ settings: SynthesisConfiguration) async throws -> SynthesisCorpus {
        try await SynthesisCorpus.prepare(try CranfieldDataset.loadDocuments(directory: dir), embedder: HashingEmbedder(), settings: settings)
    }

    func pool(_ dir: URL) throws -> [SyntheticExample] {
        try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("pool.jsonl"))
    }

    func content(_ dir: URL) throws -> [String] {
        try SynthesisStore.readJSONLines(SyntheticExample.self, from: dir.appendingPathComponent("examples.jsonl")).map {
            var e = $0
            e.createdAt = ""
            return String(decoding: try SynthesisStore.encoder().encode(e), as: UTF8.self)
        }
    }

    @Test func documentsOnlyLoaderIgnoresQueriesAndQrels() throws {
        let dir = try Self.writeCollection(garbageQueries: true)
        // The full loader needs the queries and qrels; they are garbage and absent here.
        #expect(throws: (any Error).self) { try CranfieldDataset.load(directory: dir) }
        let collection = try CranfieldDataset.loadDocuments(directory: dir)
        #expect(collection.documents.map(\.id) == Self.documents.map(\.id))
        #expect(collection.warnings.count == 1)  // document 5 is empty
    }

    @Test func corpusRunGroundsQueriesInSourceDocumentsAndMinesNegatives() async throws {
        let collectionDir = try Self.writeCollection(garbageQueries: true)
        let settings = Self.settings(filter: "llm")
        let corpus = try await prepare(collectionDir, settings)
        // Empty (5) and short (6) documents are never used.
        #expect(Set(corpus.eligible.map { corpus.documents[$0].id }) == Set(Self.documents.map(\.id)).subtracting(["5", "6"]))
        #expect(Set(corpus.order) == Set(corpus.eligible) && corpus.order.count == corpus.eligible.count)

        let out = temporaryDirectory()
        let stats = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: corpus).run(outputDirectory: out)
        let accepted = try pool(out)
        #expect(stats.corpus == "cranfield" && !accepted.isEmpty)
        let byID = Dictionary(uniqueKeysWithValues: Self.documents.map { ($0.id, $0) })
        for example in accepted {
            let source = corpus.documents[corpus.document(forItem: example.index)]
            // The positive is the item's source document, whole.
            #expect(example.positives.count == 1)
            #expect(example.positives[0].documentID == source.id && example.positives[0].text == source.contents)
            // The query was written from that document (the scripted model uses its longest words).
            let keys = try #require(ScriptedLanguageModel.corpusKeys(fromQuery: example.query))
            #expect(keys == ScriptedLanguageModel.keyWords(source.contents))
            #expect(example.seed.domain == "cranfield")
            // Negatives: other, usable documents, each confirmed by the judge.
            #expect(!example.negatives.isEmpty && example.negatives.count <= 2)
            for negative in example.negatives {
                let id = try #require(negative.documentID)
                #expect(id != source.id && !["5", "6"].contains(id))
                #expect(negative.text == byID[id].map { Document(id: $0.id, title: $0.title, text: $0.text).contents })
                #expect(negative.votes == [false])
            }
        }
        // Turbine's query names its three longest words, which the twin holds too: the judge finds it relevant,
        // so it is dropped as a false negative and recorded with its reason.
        let turbine = try #require(accepted.first { $0.positives[0].documentID == "1" })
        #expect(!turbine.negatives.contains { $0.documentID == "10" })
        let drop = try #require(turbine.droppedNegatives.first { $0.documentID == "10" })
        #expect(drop.code == "judge-found-negative-relevant" && drop.votes == [true] && drop.reason.contains("judge votes say relevant"))
    }

    @Test func denseRuleDropsNegativesScoredNearThePositive() async throws {
        let collectionDir = try Self.writeCollection(garbageQueries: true)
        var settings = Self.settings(filter: "dense")
        settings.falseNegativeMargin = 0.5
        let corpus = try await prepare(collectionDir, settings)
        let out = temporaryDirectory()
        let stats = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: corpus).run(outputDirectory: out)
        #expect(stats.judgeModel == "dense:" + HashingEmbedder().identifier)
        var droppedCount = 0
        for example in try pool(out) {
            let q = HashingEmbedder().vector(example.query)
            let positive = corpus.denseScore(q, try #require(corpus.position(of: example.positives[0].documentID ?? "")))
            let ceiling = positive - 0.5 * abs(positive)
            for negative in example.negatives {
                #expect(corpus.denseScore(q, try #require(corpus.position(of: negative.documentID ?? ""))) <= ceiling)
                #expect(negative.votes.isEmpty)
            }
            for dropped in example.droppedNegatives {
                #expect(dropped.code == "likely-false-negative-dense")
                #expect(corpus.denseScore(q, try #require(corpus.position(of: dropped.documentID ?? ""))) > ceiling)
                droppedCount += 1
            }
        }
        // The twin shares turbine's words, so at this margin at least it is dropped.
        #expect(droppedCount >= 1)
    }

    @Test func noCollectionQueryReachesTheOutput() async throws {
        // A collection with real queries: the synthesiser never reads them, so none can appear.
        let queries = ["why do compressor turbine blades fail in fatigue", "how do honeybee colonies overwinter"]
        let collectionDir = try Self.writeCollection(garbageQueries: false, queries: queries)
        let settings = Self.settings(filter: "dense")
        let out = temporaryDirectory()
        _ = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: try await prepare(collectionDir, settings))
            .run(outputDirectory: out)
        var written = ""
        for name in ["pool.jsonl", "rejected.jsonl", "examples.jsonl", "stats.json"] {
            written += try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8).lowercased()
        }
        let accepted = try pool(out)
        #expect(!accepted.isEmpty)
        for query in queries {
            #expect(!written.contains(query))
            for example in accepted {
                #expect(example.query.lowercased() != query && !example.query.lowercased().contains(query))
            }
        }
    }

    @Test func resumeAfterInterruptionEqualsUninterruptedRun() async throws {
        let collectionDir = try Self.writeCollection(garbageQueries: true)
        let settings = Self.settings(filter: "llm")
        let corpus = try await prepare(collectionDir, settings)
        let clean = temporaryDirectory()
        _ = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: corpus).run(outputDirectory: clean)

        let broken = temporaryDirectory()
        let dying = DyingModel(inner: Self.model, budget: 9)
        await #expect(throws: SynthesisError.self) {
            _ = try await SynthesisPipeline(generator: dying, settings: settings, corpus: corpus).run(outputDirectory: broken)
        }
        #expect(!FileManager.default.fileExists(atPath: broken.appendingPathComponent("examples.jsonl").path))
        // Resume with a freshly prepared corpus, as a rerun of the command does.
        let stats = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: try await prepare(collectionDir, settings))
            .run(outputDirectory: broken)
        #expect(try content(broken) == content(clean))
        let cleanStats = try JSONDecoder().decode(SynthesisStats.self, from: Data(contentsOf: clean.appendingPathComponent("stats.json")))
        #expect(stats.quality == cleanStats.quality && stats.rejectedByCode == cleanStats.rejectedByCode)
    }

    @Test func qualityReportMatchesAnIndependentCount() async throws {
        let collectionDir = try Self.writeCollection(garbageQueries: true)
        let settings = Self.settings(filter: "llm")
        let collection = try CranfieldDataset.loadDocuments(directory: collectionDir)
        let corpus = try await SynthesisCorpus.prepare(collection, embedder: HashingEmbedder(), settings: settings)
        let out = temporaryDirectory()
        let stats = try await SynthesisPipeline(generator: Self.model, settings: settings, corpus: corpus).run(outputDirectory: out)
        let quality = try #require(stats.quality)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: out.appendingPathComponent("examples.jsonl"))
        let accepted = try pool(out)
        #expect(quality.examples == examples.count && quality.itemsAccepted == accepted.count)
        #expect(quality.itemsConsidered == stats.itemsAttempted)
        #expect(abs(quality.acceptRate - Double(accepted.count) / Double(stats.itemsAttempted)) < 1e-12)
        #expect(abs(quality.rateByOutcome.values.reduce(0, +) - 1) < 1e-9)
        // BM25 recomputed straight from the Retrieval index.
        let index = BM25Index.build(documents: collection.documents)
        var reciprocal = 0.0
        for example in examples {
            let ranking = index.search(example.query, topK: 10).map(\.id)
            if let rank = ranking.firstIndex(of: example.positives[0].documentID ?? "") { reciprocal += 1 / Double(rank + 1) }
        }
        #expect(abs(quality.bm25.mrrAt10 - reciprocal / Double(examples.count)) < 1e-12)
        // The scripted queries name their document's rarest long words: BM25 finds most of them first.
        #expect(quality.bm25.rankedFirst >= 0.5)
        #expect(quality.queryWords.min == examples.map { MinHash.words($0.query).count }.min())
        #expect(quality.diversity.distinctPositives == Set(examples.map { $0.positives[0].documentID ?? "" }).count)
    }

    // MARK: the measures, on cases worked by hand

    @Test func retrievalMeasuresByHand() {
        // Ranks 1, 2, absent, 11 (outside the cut-off): MRR@10 = (1 + 1/2 + 0 + 0) / 4.
        let r = QualityReport.retrieval(ranks: [1, 2, nil, 11])
        #expect(r.mrrAt10 == 0.375 && r.rankedFirst == 0.25 && r.inTop10 == 0.5)
    }

    @Test func lexicalAndDiversityMeasuresByHand() {
        // Query terms after English analysis: wing, flutter, high, speed ("at" is a stop word); the positive
        // has wing and flutter ("wings" stems to "wing").
        #expect(QualityReport.termOverlap(query: "wing flutter at high speed", positive: "The flutter of wings.") == 0.5)
        // Bigrams: "a b", "b c", "a b", "b d" -> 3 distinct of 4.
        #expect(QualityReport.distinctBigrams(["a b c", "a b d"]) == 0.75)
        // Pairs: (x, y) distance 1, (x, x) 0, (y, x) 1 -> mean 2/3.
        #expect(abs(QualityReport.meanPairwiseDistance([[1, 0], [0, 1], [1, 0]]) - 2.0 / 3.0) < 1e-12)
        let lengths = QualityReport.lengths([3, 9, 4, 8])
        #expect(lengths.mean == 6 && lengths.median == 6 && lengths.min == 3 && lengths.max == 9)
    }

    @Test func farthestPointOrderSpreadsPicks() {
        // Two tight groups: after the first pick, the second must come from the other group.
        let vectors: [[Float]] = [[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]].map(Vectors.normalized)
        for seed: UInt64 in 0..<6 {
            let order = SynthesisCorpus.farthestPointOrder([0, 1, 2, 3], embeddings: vectors, seed: seed)
            #expect(Set(order) == [0, 1, 2, 3])
            #expect((order[0] < 2) != (order[1] < 2))
        }
    }
}

/// `limrank synthesize --corpus` as a subprocess, on the scripted backend.
@Suite struct CorpusCLITests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: SynthesizeCLITests.binary.path)))
    func corpusRunFromTheCommandLine() throws {
        let cli = SynthesizeCLITests()
        let collection = try CorpusSynthesisTests.writeCollection(garbageQueries: true)
        let out = cli.temporaryDirectory()
        let common = ["synthesize", "--backend", "scripted", "--scripted-garbage-rate", "0", "--scripted-judge-noise", "0",
                      "--target", "4", "--seed", "3", "--out", out.path]
        let made = try cli.run(common + ["--corpus", "--dataset", "cranfield", "--data", collection.path, "--false-negative-filter", "llm"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stderr.contains("corpus cranfield: 12 documents"))
        let stats = try JSONDecoder().decode(SynthesisStats.self, from: Data(contentsOf: out.appendingPathComponent("stats.json")))
        #expect(stats.corpus == "cranfield" && stats.selected == 4)
        let quality = try #require(stats.quality)
        #expect(quality.examples == 4 && quality.retrievalCorpus == "cranfield" && quality.retrievalDocuments == 12)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: out.appendingPathComponent("examples.jsonl"))
        #expect(examples.allSatisfy { $0.positives.count == 1 && $0.positives[0].documentID != nil })

        let noCorpus = try cli.run(common + ["--dataset", "cranfield", "--data", collection.path])
        #expect(noCorpus.status != 0 && noCorpus.stderr.contains("--corpus"))
        let noDataset = try cli.run(common + ["--corpus"])
        #expect(noDataset.status != 0 && noDataset.stderr.contains("--dataset"))
        let badFilter = try cli.run(common + ["--corpus", "--dataset", "cranfield", "--data", collection.path, "--false-negative-filter", "maybe"])
        #expect(badFilter.status != 0 && badFilter.stderr.contains("false_negative_filter"))
    }
}
