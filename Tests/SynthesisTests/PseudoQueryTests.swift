import Datasets
import Foundation
import LanguageModels
import Retrieval
import Testing
@testable import Synthesis

/// Model-free pseudo-queries (`query_source` title and ict), the round-trip
/// filter and the held-out validation split, on a small Cranfield-format
/// collection whose queries file is garbage (only documents are read).
@Suite struct PseudoQueryTests {
    /// Multi-sentence documents with titles. "decoy" repeats the title words
    /// of "shear" so often that BM25 ranks it above shear for shear's title.
    static let documents: [(id: String, title: String, text: String)] = [
        ("1", "turbine blade fatigue under centrifugal load", "Compressor blades carry centrifugal stresses in service. Thermal gradients shorten their fatigue life considerably. Designers trade blade thickness against stage efficiency."),
        ("2", "honeybee colonies surviving the winter", "Colonies overwinter by clustering tightly together. Bees shiver their flight muscles to generate warmth. Ventilation prevents condensation dripping onto the cluster."),
        ("3", "sourdough fermentation and bread staling", "Lactobacilli and wild yeasts acidify the dough. The acid strengthens gluten networks during proofing. Finished loaves stale more slowly than yeasted bread."),
        ("4", "glacier sliding over wet bedrock", "Glaciers advance when accumulation exceeds ablation. Meltwater lubricates the bedrock interface in summer. Sliding can accelerate dramatically during seasonal surges."),
        ("5", "laminar boundary layer shear stress", "Viscous flow near a flat plate develops a thin layer. Its thickness grows with the square root of distance. Skin friction follows from the velocity gradient at the wall."),
        ("6", "decoy", "Laminar boundary layer shear stress, laminar boundary layer shear stress, laminar boundary layer shear stress again. Laminar boundary layer shear stress is all this note repeats."),
        ("7", "", "A document without a title has sentences all the same. It can give inverse cloze queries but no title query."),
    ]

    static func writeCollection(_ docs: [(id: String, title: String, text: String)] = documents) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pseudoq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var text = ""
        for d in docs { text += ".I \(d.id)\n.T\n\(d.title)\n.A\nsomeone\n.B\nj. test 1\n.W\n\(d.text)\n" }
        try text.write(to: dir.appendingPathComponent(CranfieldDataset.documentsFile), atomically: true, encoding: .utf8)
        try "\u{0}\u{1}not a SMART file at all {{{\n".write(to: dir.appendingPathComponent(CranfieldDataset.queriesFile), atomically: true, encoding: .utf8)
        return dir
    }

    static func settings(_ source: String, perDocument: Int? = nil) -> SynthesisConfiguration {
        var s = SynthesisConfiguration()
        s.querySource = source
        s.queriesPerDocument = perDocument
        s.target = 100
        s.seed = 9
        s.concurrency = 2
        s.negativesPerQuery = 2
        s.minNegatives = 1
        s.corpusMinWords = 10
        s.negativeDepth = 5
        s.queryWords = .init(min: 1, max: 150)
        // The English check (stop-word share) would drop terse titles and sentences; it is not under test here.
        s.language = "any"
        s.falseNegativeMargin = 1
        return s
    }

    func run(_ settings: SynthesisConfiguration, roundTrip: (String, Int)? = nil,
             collection: URL? = nil) async throws -> (SynthesisStats, [SyntheticExample], SynthesisCorpus, URL) {
        let documents = try CranfieldDataset.loadDocuments(directory: try collection ?? Self.writeCollection())
        let corpus = try await SynthesisCorpus.prepare(documents, embedder: HashingEmbedder(), settings: settings)
        var filter: RoundTripFilter?
        if let roundTrip {
            filter = try await RoundTripFilter.prepare(scorer: roundTrip.0, k: roundTrip.1, corpus: corpus, documents: documents, modelEmbedder: nil, settings: settings)
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pseudoq-out-\(UUID().uuidString)")
        let stats = try await SynthesisPipeline(generator: ScriptedLanguageModel(), settings: settings, corpus: corpus, roundTrip: filter).run(outputDirectory: out)
        let examples = try SynthesisStore.readJSONLines(SyntheticExample.self, from: out.appendingPathComponent("examples.jsonl"))
        return (stats, examples, corpus, out)
    }

    // MARK: pure functions

    @Test func titleQueryIsTheTitleForTheBody() throws {
        let made = DocumentQueries.title(Document(id: "a", title: " wing flutter ", text: "Flutter couples bending and torsion."))
        #expect(made == DocumentQuery(query: "wing flutter", positive: "Flutter couples bending and torsion."))
        #expect(DocumentQueries.title(Document(id: "b", title: "", text: "No title here.")) == nil)
        // Cranfield's abstracts open with their title: that copy is not part of the positive, nor an ICT query.
        let cranfield = Document(id: "c", title: "wing in a\nslipstream .", text: "wing in a\nslipstream .\n  an experimental study was made .  results agree with theory .")
        #expect(DocumentQueries.title(cranfield) == DocumentQuery(query: "wing in a slipstream .", positive: "an experimental study was made . results agree with theory ."))
        for round in 0..<2 {
            let made = try #require(DocumentQueries.ict(cranfield, round: round, minWords: 1, seed: 3))
            #expect(made.query != "wing in a slipstream .")
            #expect(made.positive.hasPrefix("wing in a\nslipstream .\n"))
        }
        #expect(DocumentQueries.ict(cranfield, round: 2, minWords: 1, seed: 3) == nil)
    }

    @Test func ictTakesOneSentenceOutPerRound() throws {
        let document = Document(id: "d", title: "T", text: "First sentence is here. Second one follows now! Is this the third? Tiny.")
        #expect(DocumentQueries.sentences(document.text) == ["First sentence is here.", "Second one follows now!", "Is this the third?", "Tiny."])
        // "Tiny." has fewer than 2 words: three rounds, each a different sentence.
        var queries: [String] = []
        for round in 0..<3 {
            let made = try #require(DocumentQueries.ict(document, round: round, minWords: 2, seed: 1))
            queries.append(made.query)
            #expect(!made.positive.contains(made.query))
            #expect(made.positive.hasPrefix("T\n") && made.positive.contains("Tiny."))
            #expect(made == DocumentQueries.ict(document, round: round, minWords: 2, seed: 1))
        }
        #expect(Set(queries) == ["First sentence is here.", "Second one follows now!", "Is this the third?"])
        #expect(DocumentQueries.ict(document, round: 3, minWords: 2, seed: 1) == nil)
        #expect(DocumentQueries.ict(Document(id: "e", text: "Only one sentence here."), round: 0, minWords: 1, seed: 1) == nil)
    }

    @Test func holdOutKeepsEachDocumentOnOneSide() {
        func example(_ i: Int, _ document: String) -> SyntheticExample {
            SyntheticExample(id: "syn\(i)", index: i, seed: Seed(persona: "", domain: "", domainKind: .expert, wantsInstruction: false),
                             query: "q\(i)", instruction: "", positives: [JudgedPassage(id: "p", text: "t", votes: [], documentID: document)],
                             negatives: [], droppedNegatives: [], generatorModel: "", judgeModel: "", promptVersions: [:], createdAt: "", usage: SynthesisUsage())
        }
        let examples = (0..<400).map { example($0, "doc\($0 % 100)") }
        let (training, validation) = SynthesisPipeline.holdOut(examples, fraction: 0.3, seed: 4)
        #expect(training.count + validation.count == 400)
        let held = Set(validation.compactMap { $0.positives[0].documentID })
        #expect(held.isDisjoint(with: training.compactMap { $0.positives[0].documentID }))
        #expect((15...45).contains(held.count))
        #expect(SynthesisPipeline.holdOut(examples, fraction: 0, seed: 4).validation.isEmpty)
    }

    // MARK: runs

    @Test func titleSourceMakesTitleToBodyPairsWithoutAModel() async throws {
        let (stats, examples, corpus, _) = try await run(Self.settings("title"))
        // Document 7 has no title: rejected with a code; every other eligible document gives one example.
        #expect(stats.rejectedByCode["no-title"] == 1)
        #expect(examples.count == corpus.eligible.count - 1, "\(stats.rejectedByCode)")
        for example in examples {
            let source = try #require(corpus.documents.first { $0.id == example.positives[0].documentID })
            #expect(example.query == source.title && MinHash.words(example.positives[0].text) == MinHash.words(source.text))
            #expect(example.generatorModel == "query-source:title")
            // Negatives are other documents' bodies, like the positive.
            for negative in example.negatives {
                let document = try #require(corpus.documents.first { $0.id == negative.documentID })
                #expect(negative.documentID != source.id && MinHash.words(negative.text) == MinHash.words(document.text))
            }
        }
    }

    @Test func ictSourceMakesSeveralQueriesPerDocument() async throws {
        let (stats, examples, corpus, _) = try await run(Self.settings("ict", perDocument: 2))
        #expect(stats.itemsAttempted == 2 * corpus.order.count)
        var perDocument: [String: [String]] = [:]
        for example in examples {
            let id = try #require(example.positives[0].documentID)
            let source = try #require(corpus.documents.first { $0.id == id })
            #expect(DocumentQueries.sentences(source.text).contains(example.query))
            #expect(!example.positives[0].text.contains(example.query) && !example.negatives.isEmpty)
            perDocument[id, default: []].append(example.query)
        }
        #expect(perDocument.count == corpus.eligible.count)
        #expect(perDocument.values.allSatisfy { $0.count == 2 && Set($0).count == 2 }, "\(perDocument) \(stats.rejectedByCode)")
    }

    @Test func roundTripFilterDropsQueriesWhoseDocumentIsNotOnTop() async throws {
        let (stats, examples, corpus, _) = try await run(Self.settings("title"), roundTrip: ("bm25", 1))
        // Every kept query finds its own document first; shear's title finds the decoy first and is dropped.
        for example in examples {
            let position = try #require(corpus.position(of: example.positives[0].documentID ?? ""))
            #expect(corpus.bm25Ranking(example.query, topK: 1) == [position])
        }
        #expect(!examples.contains { $0.positives[0].documentID == "5" })
        let dropped = try #require(stats.rejectedByCode["round-trip-failed"])
        #expect(dropped >= 1)
        #expect(stats.quality?.roundTrip == QualityReport.RoundTrip(scorer: "bm25", k: 1, dropped: dropped))
        #expect((stats.quality?.rateByOutcome["round-trip-failed"] ?? 0) > 0)
        // With k large enough nothing is dropped.
        let (loose, _, _, _) = try await run(Self.settings("title"), roundTrip: ("bm25", 7))
        #expect(loose.rejectedByCode["round-trip-failed"] == nil)
    }

    @Test func roundTripWithAModelEmbedsTheDocumentsWithIt() async throws {
        let settings = Self.settings("title")
        let documents = try CranfieldDataset.loadDocuments(directory: try Self.writeCollection())
        let corpus = try await SynthesisCorpus.prepare(documents, embedder: HashingEmbedder(), settings: settings)
        // A model of its own (here another hashing width) ranks with its own document embeddings, not the run's.
        let model = HashingEmbedder(dimension: 64)
        let filter = try await RoundTripFilter.prepare(scorer: "/models/trained", k: 1, corpus: corpus, documents: documents,
                                                       modelEmbedder: model, settings: settings)
        #expect(filter.scorerName == "/models/trained")
        let own = try await SynthesisCorpus.prepare(documents, embedder: model, settings: settings)
        for position in corpus.eligible where !corpus.documents[position].title.isEmpty {
            let title = corpus.documents[position].title
            let top = own.denseRanking(try await model.embed([title])[0], topK: 1)
            let rank = try await filter.rank(query: title, queryVector: [], source: position, corpus: corpus)
            #expect((rank == 1) == (top == [position]))
        }
        await #expect(throws: SynthesisError.self) {
            _ = try await RoundTripFilter.prepare(scorer: "/models/trained", k: 1, corpus: corpus, documents: documents, modelEmbedder: nil, settings: settings)
        }
    }

    @Test func validationSplitIsABEIRCollectionOfHeldOutQueries() async throws {
        var settings = Self.settings("ict", perDocument: 2)
        settings.validationFraction = 0.5
        let (stats, examples, corpus, out) = try await run(settings)
        let directory = out.appendingPathComponent("validation")
        let validation = try BEIRDataset.load(directory: directory)
        #expect(stats.validationQueries == validation.queries.count && validation.queries.count > 0)
        #expect(validation.documents.map(\.id) == corpus.documents.map(\.id))
        let trainingIDs = Set(examples.map(\.id))
        let trainingDocuments = Set(examples.compactMap { $0.positives[0].documentID })
        var sources: [String] = []
        for query in validation.queries {
            #expect(!trainingIDs.contains(query.id))
            let relevant = validation.qrels[query.id]
            #expect(relevant.count == 1 && relevant.values.first == 1)
            #expect(!trainingDocuments.contains(relevant.keys.first ?? ""))
            sources.append(relevant.keys.first ?? "")
        }
        // One query per held-out document, which is written as the passage
        // the query was cut from: the sentence itself is not in it.
        #expect(Set(sources).count == sources.count)
        let texts = Dictionary(uniqueKeysWithValues: validation.documents.map { ($0.id, $0.title + " " + $0.text) })
        for (query, source) in zip(validation.queries, sources) {
            let text = try #require(texts[source])
            #expect(!text.contains(query.text), "held-out document \(source) still holds its query \(query.text)")
            #expect(text != corpus.documents.first { $0.id == source }.map { $0.title + " " + $0.text })
        }
    }

    @Test func heldOutTitleQueriesMeetTheBodyWithoutTheTitle() async throws {
        var settings = Self.settings("title")
        settings.validationFraction = 0.6
        let (_, _, corpus, out) = try await run(settings)
        let validation = try BEIRDataset.load(directory: out.appendingPathComponent("validation"))
        #expect(!validation.queries.isEmpty)
        for query in validation.queries {
            let source = try #require(validation.qrels[query.id].keys.first)
            let written = try #require(validation.documents.first { $0.id == source })
            let original = try #require(corpus.documents.first { $0.id == source })
            #expect(written.title.isEmpty && written.text == DocumentQueries.title(original)?.positive)
            #expect(!written.text.lowercased().contains(query.text.lowercased()))
        }
        // Documents no query was held out for stay as the collection has them.
        let held = Set(validation.queries.compactMap { validation.qrels[$0.id].keys.first })
        for document in validation.documents where !held.contains(document.id) {
            #expect(corpus.documents.contains { $0.id == document.id && $0.text == document.text && $0.title == document.title })
        }
    }

    // MARK: bad input

    @Test func badSettingsAreRefusedByName() {
        func refusal(_ change: (inout SynthesisConfiguration) -> Void) -> String {
            var s = Self.settings("title")
            change(&s)
            do { try s.validate(file: "command line") } catch { return "\(error)" }
            return ""
        }
        #expect(refusal { $0.querySource = "poems" }.contains("field \"query_source\": unknown source \"poems\" (choose: llm, title, ict)"))
        #expect(refusal { $0.queriesPerDocument = 0 }.contains("queries_per_document"))
        #expect(refusal { $0.queriesPerDocument = 2 }.contains("title gives at most 1 per document"))
        #expect(refusal { $0.roundTripK = 0 }.contains("round_trip_k"))
        #expect(refusal { $0.validationFraction = 1 }.contains("validation_fraction"))
        #expect(refusal { _ in }.isEmpty)
        #expect(throws: SynthesisError.self) { try RoundTripFilter(scorer: .bm25, k: 0) }
    }

    @Test func titleSourceOnATitlelessCollectionIsAClearError() async throws {
        let collection = try Self.writeCollection(Self.documents.map { ($0.id, "", $0.text) })
        await #expect {
            _ = try await run(Self.settings("title"), collection: collection)
        } throws: { error in
            "\(error)".contains("no document of cranfield") && "\(error)".contains("has a title")
        }
    }
}
