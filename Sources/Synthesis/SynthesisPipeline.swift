import Datasets
import Foundation
import LanguageModels

/// What became of one item.
public enum ItemOutcome: Sendable, Hashable {
    case accepted(SyntheticExample)
    case rejected(RejectedItem)

    public var index: Int {
        switch self {
        case .accepted(let e): return e.index
        case .rejected(let r): return r.index
        }
    }
}

/// The whole synthesiser: seeds -> query -> positives -> hard negatives ->
/// judge -> (traces) per item, with bounded concurrency and a checkpoint
/// store; then near-duplicate removal and diversity selection over the pool.
///
/// Deterministic under `settings.seed` for a deterministic model: each item's
/// requests are seeded from (seed, item index), the pool is the accepted items
/// up to the first index at which the pool target is reached, and dedup and
/// selection go by item index.
public struct SynthesisPipeline: Sendable {
    public var generator: any LanguageModel
    public var judge: any LanguageModel
    public var embedder: any TextEmbedder
    public var settings: SynthesisConfiguration
    public var prompts: SynthesisPrompts
    public var seeds: SeedSet
    /// Receives one line per finished item (the CLI writes them to stderr).
    public var progress: @Sendable (String) -> Void
    /// Corpus-grounded mode: queries are written for these documents, which
    /// are also the positives and the pool hard negatives are mined from.
    public var corpus: SynthesisCorpus?
    /// Corpus mode: keeps a query only when its source document comes back
    /// in the filter's top k.
    public var roundTrip: RoundTripFilter?

    public init(generator: any LanguageModel, judge: (any LanguageModel)? = nil, embedder: any TextEmbedder = HashingEmbedder(),
                settings: SynthesisConfiguration, prompts: SynthesisPrompts = .builtIn, seeds: SeedSet = .builtIn,
                corpus: SynthesisCorpus? = nil, roundTrip: RoundTripFilter? = nil, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.corpus = corpus
        self.roundTrip = roundTrip
        self.generator = generator
        self.judge = judge ?? generator
        self.embedder = embedder
        self.settings = settings
        self.prompts = prompts
        self.seeds = seeds
        self.progress = progress
    }

    func makePersonaFit() async throws -> PersonaFit {
        try await PersonaFit(personas: seeds.personas.map(\.description), embedder: embedder,
                             minimumSimilarity: settings.corpusPersonaMinSimilarity)
    }

    static func exampleID(_ index: Int) -> String {
        let digits = String(index)
        return "syn" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    // MARK: one item

    /// Runs every stage for item `index`. Unusable model output and failed
    /// filters give `.rejected`; backend failures and cancellation throw.
    /// `personaFit`: corpus mode's persona vectors, made once per run (made
    /// here when absent).
    public func processItem(_ index: Int, personaFit: PersonaFit? = nil) async throws -> ItemOutcome {
        if let corpus {
            var fit = personaFit
            if fit == nil, settings.source == .llm { fit = try await makePersonaFit() }
            return try await processCorpusItem(index, corpus: corpus, personaFit: fit)
        }
        var context = ItemContext(index: index, settings: settings, prompts: prompts)
        let seed = seeds.seed(forItem: index, runSeed: settings.seed, instructionRate: settings.instructionRate, rng: &context.rng)
        let id = Self.exampleID(index)
        var queryText: String?
        let filter = QualityFilter(settings: settings)

        func reject(_ stage: String, _ code: String, _ reason: String) -> ItemOutcome {
            .rejected(RejectedItem(
                id: id, index: index, stage: stage, code: code, reason: reason, seed: seed, query: queryText,
                generatorModel: generator.identifier, judgeModel: judge.identifier, promptVersions: prompts.versions,
                createdAt: Timestamp.now(), usage: context.usage))
        }

        do {
            let query = try await QueryGenerationStage(model: generator).run(seed: seed, context: &context)
            queryText = query.query
            if let failure = filter.checkQuery(query.query) { return reject("quality", failure.code, failure.reason) }

            let positives = try await PositivePassageStage(model: generator).run(seed: seed, query: query, context: &context)
            for positive in positives {
                if let failure = filter.checkPassage(positive, role: "positive") { return reject("quality", failure.code, failure.reason) }
                if let failure = filter.checkRestatement(query: query.query, positive: positive) { return reject("quality", failure.code, failure.reason) }
            }

            let generated = try await HardNegativeStage(model: generator)
                .run(seed: seed, query: query, positive: positives[0], context: &context)
            var dropped: [DroppedPassage] = []
            var negatives: [String] = []
            let minhash = MinHash()
            let positiveSignatures = positives.map(minhash.signature)
            for negative in generated {
                if let failure = filter.checkPassage(negative, role: "negative") {
                    dropped.append(DroppedPassage(text: negative, votes: [], code: failure.code, reason: failure.reason))
                    continue
                }
                if let failure = filter.checkNegativeOverlap(query: query.query, negative: negative) {
                    dropped.append(DroppedPassage(text: negative, votes: [], code: failure.code, reason: failure.reason))
                    continue
                }
                let signature = minhash.signature(negative)
                if let close = positiveSignatures.map({ MinHash.estimatedJaccard($0, signature) }).max(), close >= settings.minhashThreshold {
                    dropped.append(DroppedPassage(text: negative, votes: [], code: "negative-duplicates-positive",
                                                  reason: "shingle Jaccard ~\(NearDuplicateFilter.format(close)) with a positive"))
                    continue
                }
                if negatives.contains(negative) {
                    dropped.append(DroppedPassage(text: negative, votes: [], code: "negative-repeated", reason: "same text as another negative"))
                    continue
                }
                negatives.append(negative)
            }
            if negatives.count < settings.minNegatives {
                return reject("quality", "too-few-negatives", "\(negatives.count) usable negative(s) after quality checks, \(settings.minNegatives) needed")
            }

            let judgeStage = RelevanceJudgeStage(model: judge)
            var judgedPositives: [JudgedPassage] = []
            for (k, positive) in positives.enumerated() {
                let votes = try await judgeStage.votes(query: query, passage: positive, context: &context)
                guard votes.allSatisfy({ $0 }) else {
                    return reject("judge", "judge-rejected-positive",
                                  "judge votes on positive \(k): \(votes.map { $0 ? "relevant" : "not" }.joined(separator: ", "))")
                }
                judgedPositives.append(JudgedPassage(id: "\(id)-p\(k)", text: positive, votes: votes))
            }
            var judgedNegatives: [JudgedPassage] = []
            for negative in negatives {
                let votes = try await judgeStage.votes(query: query, passage: negative, context: &context)
                if votes.contains(true) {
                    dropped.append(DroppedPassage(text: negative, votes: votes, code: "judge-found-negative-relevant",
                                                  reason: "\(votes.filter { $0 }.count) of \(votes.count) judge votes say relevant"))
                } else {
                    judgedNegatives.append(JudgedPassage(id: "\(id)-n\(judgedNegatives.count)", text: negative, votes: votes))
                }
            }
            if judgedNegatives.count < settings.minNegatives {
                return reject("judge", "too-few-negatives", "\(judgedNegatives.count) negative(s) confirmed by the judge, \(settings.minNegatives) needed")
            }

            if settings.reasoningTraces {
                let traces = ReasoningTraceStage(model: generator)
                for k in judgedPositives.indices {
                    judgedPositives[k].reasoning = try await traces.run(query: query, passage: judgedPositives[k].text, relevant: true, context: &context)
                }
                for k in judgedNegatives.indices {
                    judgedNegatives[k].reasoning = try await traces.run(query: query, passage: judgedNegatives[k].text, relevant: false, context: &context)
                }
            }

            return .accepted(SyntheticExample(
                id: id, index: index, seed: seed, query: query.query, instruction: query.instruction,
                positives: judgedPositives, negatives: judgedNegatives, droppedNegatives: dropped,
                generatorModel: generator.identifier, judgeModel: judge.identifier, promptVersions: prompts.versions,
                createdAt: Timestamp.now(), usage: context.usage))
        } catch SynthesisError.malformedOutput(let stage, let attempts, let reason) {
            return reject(stage, "malformed-output", "no usable answer after \(attempts) attempt(s): \(reason)")
        }
    }

    // MARK: the run

    /// What judged the examples: the judge model, or in corpus mode with the
    /// dense false-negative rule alone, the embedder.
    public var judgeIdentifier: String {
        corpus != nil && settings.falseNegativeFilter == "dense" ? "dense:\(embedder.identifier)" : judge.identifier
    }

    /// What wrote the queries: the generator, or the model-free source.
    public var generatorIdentifier: String {
        corpus != nil && settings.source != .llm ? "query-source:\(settings.querySource)" : generator.identifier
    }

    /// Items this run may try: `max_items`, and in corpus mode no more than
    /// the documents can give at `queries_per_document` each.
    var itemLimit: Int {
        guard let corpus, let perDocument = settings.queriesPerDocumentLimit else { return settings.effectiveMaxItems }
        return min(settings.effectiveMaxItems, perDocument * corpus.order.count)
    }

    /// Settings that change the output. Concurrency does not, so a run may be
    /// resumed with another.
    public var fingerprint: [String: String] {
        var values = baseFingerprint
        if let corpus {
            let s = settings
            values["corpus"] = corpus.fingerprint
            values["corpus_settings"] = "\(s.corpusMinWords),\(s.corpusDocumentWords),\(s.negativeDepth),\(s.falseNegativeFilter),\(s.falseNegativeMargin)"
            // Only where they differ from the defaults, so runs made before these settings existed still resume.
            if s.source != .llm || s.queriesPerDocument != nil { values["query_source"] = "\(s.querySource),\(s.queriesPerDocument.map(String.init) ?? "-")" }
            if let roundTrip { values["round_trip"] = "\(roundTrip.scorerName),\(roundTrip.k)" }
            if s.validationFraction > 0 { values["validation_fraction"] = String(s.validationFraction) }
            // Personas are fitted to documents since round 3: an LLM-query run made before cannot resume into one that fits.
            if s.source == .llm { values["persona_fit"] = String(s.corpusPersonaMinSimilarity) }
        }
        return values
    }

    var baseFingerprint: [String: String] {
        let s = settings
        var seedText = seeds.personas.map(\.description).joined(separator: "\n")
        seedText += seeds.domains.map { "\($0.kind.rawValue):\($0.name)" }.joined(separator: "\n")
        return [
            "seed": String(s.seed), "target": String(s.target), "oversample": String(s.oversample),
            "max_items": String(s.effectiveMaxItems),
            "positives_per_query": String(s.positivesPerQuery), "negatives_per_query": String(s.negativesPerQuery),
            "min_negatives": String(s.minNegatives), "instruction_rate": String(s.instructionRate),
            "reasoning_traces": String(s.reasoningTraces), "judge_samples": String(s.judgeSamples),
            "judge_temperature": String(s.judgeTemperature), "generation_temperature": String(s.generationTemperature),
            "max_reasks": String(s.maxReasks),
            "max_tokens": "\(s.maxTokens.query),\(s.maxTokens.passages),\(s.maxTokens.judge),\(s.maxTokens.reasoning)",
            "query_words": "\(s.queryWords.min)-\(s.queryWords.max)", "passage_words": "\(s.passageWords.min)-\(s.passageWords.max)",
            "language": s.language, "minhash_threshold": String(s.minhashThreshold),
            "embedding_threshold": String(s.embeddingThreshold), "restatement_threshold": String(s.restatementThreshold),
            "negative_min_overlap": String(s.negativeMinOverlap),
            "seeds": String(StableHash.of(seedText), radix: 16),
            "generator_model": generatorIdentifier, "judge_model": judgeIdentifier, "embedder": embedder.identifier,
            "prompt_versions": prompts.versions.sorted { $0.key < $1.key }.map { "\($0.key)@v\($0.value)" }.joined(separator: ","),
            "prompts": String(StableHash.of(prompts.all.map { $0.system + "\u{1}" + $0.user }.joined(separator: "\u{2}")), radix: 16),
        ]
    }

    /// Generates into `directory`, resuming whatever a previous run with the
    /// same settings left there, and returns the run's statistics.
    public func run(outputDirectory directory: URL) async throws -> SynthesisStats {
        try settings.validate()
        let store = try SynthesisStore(directory: directory)
        let encoder = SynthesisStore.encoder()
        var checkpoint: SynthesisCheckpoint
        if let stored = try store.loadCheckpoint() {
            for (key, value) in fingerprint.sorted(by: { $0.key < $1.key }) where stored.fingerprint[key] != value {
                throw SynthesisError.checkpointMismatch(path: store.checkpoint.path, field: key, stored: stored.fingerprint[key] ?? "(absent)", requested: value)
            }
            checkpoint = stored
            if checkpoint.finalized, let stats = try? JSONDecoder().decode(SynthesisStats.self, from: Data(contentsOf: store.stats)) {
                progress("synthesize: \(directory.path) already holds the finished run (\(stats.selected) examples)")
                return stats
            }
            if checkpoint.finalized {
                // Finished, but stats.json is gone: redo the final step.
                checkpoint.finalized = false
            }
        } else {
            checkpoint = SynthesisCheckpoint(fingerprint: fingerprint, completed: [], poolBytes: 0, rejectedBytes: 0, usage: SynthesisUsage(), finalized: false)
        }
        try store.truncate(store.pool, to: checkpoint.poolBytes)
        try store.truncate(store.rejected, to: checkpoint.rejectedBytes)
        try store.writeAtomically(try encoder.encode(checkpoint), to: store.checkpoint)

        var pool: [Int: SyntheticExample] = [:]
        // The files hold nothing beyond the checkpointed lengths (just cut back).
        if checkpoint.poolBytes > 0 {
            for example in try store.readLines(SyntheticExample.self, from: store.pool) { pool[example.index] = example }
        }
        var rejected = checkpoint.rejectedBytes > 0 ? try store.readLines(RejectedItem.self, from: store.rejected) : []
        var completed = Set(checkpoint.completed)
        let onFile = Set(pool.keys).union(rejected.map(\.index))
        guard onFile == completed, pool.count + rejected.count == completed.count else {
            throw SynthesisError.corruptRecord(file: store.checkpoint.path, line: 0,
                                               reason: "the checkpoint lists \(completed.count) items, the files hold \(pool.count + rejected.count) records for \(onFile.count) items")
        }
        if !completed.isEmpty {
            progress("synthesize: resuming: \(completed.count) items done, \(pool.count) accepted")
        } else {
            progress("synthesize: pool of \(settings.poolTarget) for \(settings.target) examples, generator \(generatorIdentifier), judge \(judgeIdentifier), concurrency \(settings.concurrency), seed \(settings.seed)")
        }

        let poolTarget = settings.poolTarget
        let maxItems = itemLimit
        if let corpus, settings.source == .title, !corpus.eligible.contains(where: { !corpus.documents[$0].title.isEmpty }) {
            throw SynthesisError.invalidParameter(
                name: "query_source title", reason: "no document of \(corpus.name) (\(corpus.documents.count) documents) has a title; use ict or llm")
        }
        // Model-free items take milliseconds: rewriting the checkpoint after each would cost more than the item.
        let checkpointEvery: TimeInterval = corpus != nil && settings.source != .llm ? 1 : 0
        var lastCheckpoint = Date()
        var nextIndex = 0
        var consecutiveMalformed = 0
        var lastMalformed = ""
        let personaFit = corpus != nil && settings.source == .llm ? try await makePersonaFit() : nil
        if let personaFit, let corpus {
            let fitted = corpus.eligible.filter { !personaFit.fitting($0, in: corpus).isEmpty }.count
            progress("synthesize: \(fitted) of \(corpus.eligible.count) documents have a seed persona at cosine >= \(settings.corpusPersonaMinSimilarity); the neutral reader asks about the others")
        }
        try await withThrowingTaskGroup(of: ItemOutcome.self) { group in
            var inFlight = 0
            // Item i is needed while fewer than poolTarget items below i are
            // accepted. Counting by index rather than by completion makes a
            // resumed run fill the gaps a kill left below later accepted
            // items, so the pool is the same as an uninterrupted run's.
            func launchMore() {
                while inFlight < settings.concurrency {
                    while completed.contains(nextIndex) { nextIndex += 1 }
                    guard nextIndex < maxItems else { return }
                    let below = nextIndex
                    guard pool.keys.lazy.filter({ $0 < below }).count < poolTarget else { return }
                    let index = nextIndex
                    nextIndex += 1
                    inFlight += 1
                    group.addTask { try await self.processItem(index, personaFit: personaFit) }
                }
            }
            launchMore()
            while let outcome = try await group.next() {
                inFlight -= 1
                switch outcome {
                case .accepted(let example):
                    checkpoint.poolBytes = try store.append(try encoder.encode(example), to: store.pool)
                    checkpoint.usage += example.usage
                    pool[example.index] = example
                    consecutiveMalformed = 0
                case .rejected(let item):
                    checkpoint.rejectedBytes = try store.append(try encoder.encode(item), to: store.rejected)
                    checkpoint.usage += item.usage
                    rejected.append(item)
                    if item.code == "malformed-output" {
                        consecutiveMalformed += 1
                        lastMalformed = item.reason
                    } else {
                        consecutiveMalformed = 0
                    }
                }
                completed.insert(outcome.index)
                // A checkpoint written later only means more items are redone after a kill.
                if checkpointEvery == 0 || Date().timeIntervalSince(lastCheckpoint) >= checkpointEvery {
                    checkpoint.completed = completed.sorted()
                    try store.writeAtomically(try encoder.encode(checkpoint), to: store.checkpoint)
                    lastCheckpoint = Date()
                }
                progress(progressLine(outcome, completed: completed.count, pool: pool.count, poolTarget: poolTarget,
                                      rejected: rejected.count, usage: checkpoint.usage))
                if consecutiveMalformed >= settings.maxConsecutiveMalformed {
                    throw SynthesisError.modelNeverParseable(model: generator.identifier, consecutiveItems: consecutiveMalformed, lastReason: lastMalformed)
                }
                launchMore()
            }
        }
        return try await finalize(store: store, checkpoint: &checkpoint, pool: pool, rejected: rejected, completed: completed)
    }

    func progressLine(_ outcome: ItemOutcome, completed: Int, pool: Int, poolTarget: Int, rejected: Int, usage: SynthesisUsage) -> String {
        let what: String
        switch outcome {
        case .accepted: what = "accepted"
        case .rejected(let r): what = "rejected (\(r.code))"
        }
        return "synthesize: item \(outcome.index) \(what) | pool \(pool)/\(poolTarget) | items \(completed) | rejected \(rejected)"
            + " | requests \(usage.requests) (re-asks \(usage.reasks), retries \(usage.backendRetries))"
            + (usage.countedRequests == usage.requests && usage.requests > 0
                ? " | \(usage.promptTokens + usage.completionTokens) tokens"
                : " | ~\(usage.estimatedPromptTokens + usage.estimatedCompletionTokens) tokens (estimated)")
    }

    /// Cuts the pool at the pool target (by item index), removes near
    /// duplicates, selects the target, and writes the final files.
    func finalize(store: SynthesisStore, checkpoint: inout SynthesisCheckpoint, pool: [Int: SyntheticExample],
                  rejected: [RejectedItem], completed: Set<Int>) async throws -> SynthesisStats {
        let encoder = SynthesisStore.encoder()
        let poolTarget = settings.poolTarget
        var candidates: [SyntheticExample] = []
        var cutoff: Int?
        for index in completed.sorted() {
            guard let example = pool[index] else { continue }
            candidates.append(example)
            if candidates.count == poolTarget {
                cutoff = index
                break
            }
        }

        checkpoint.completed = completed.sorted()
        let kept: [Int]
        let duplicates: [NearDuplicateFilter.Duplicate]
        let selectedPositions: Set<Int>
        if corpus != nil, settings.source != .llm {
            // Model-free queries are the documents' own words: near-duplicate
            // and diversity selection (quadratic in the pool) would only drop
            // repeated titles, which the exact check below does in linear time.
            (kept, duplicates) = Self.exactDuplicates(candidates)
            selectedPositions = Set(kept.prefix(settings.target))
        } else {
            let embeddings = try await embedder.embed(candidates.map(\.queryWithInstruction))
            guard embeddings.count == candidates.count else {
                throw SynthesisError.invalidParameter(name: "embedder \(embedder.identifier)", reason: "returned \(embeddings.count) vectors for \(candidates.count) texts")
            }
            let dedup = NearDuplicateFilter(minhashThreshold: settings.minhashThreshold, embeddingThreshold: settings.embeddingThreshold)
            (kept, duplicates) = dedup.filter(
                queries: candidates.map(\.queryWithInstruction), positives: candidates.map { $0.positives.first?.text ?? "" }, embeddings: embeddings)
            let chosen = DiversitySelector.select(
                target: settings.target, embeddings: kept.map { embeddings[$0] }, domains: kept.map { candidates[$0].seed.domain })
            selectedPositions = Set(chosen.map { kept[$0] })
        }

        var finalRejections: [RejectedItem] = []
        func rejection(_ example: SyntheticExample, stage: String, code: String, reason: String) -> RejectedItem {
            RejectedItem(id: example.id, index: example.index, stage: stage, code: code, reason: reason, seed: example.seed,
                         query: example.query, generatorModel: example.generatorModel, judgeModel: example.judgeModel,
                         promptVersions: example.promptVersions, createdAt: Timestamp.now(), usage: SynthesisUsage())
        }
        for duplicate in duplicates {
            let example = candidates[duplicate.position]
            finalRejections.append(rejection(example, stage: "dedup", code: duplicate.code,
                                             reason: duplicate.reason + " (\(candidates[duplicate.duplicateOf].id))"))
        }
        for position in kept where !selectedPositions.contains(position) {
            finalRejections.append(rejection(candidates[position], stage: "selection", code: "not-selected",
                                             reason: "left out to keep \(settings.target) diverse examples"))
        }
        var selected = selectedPositions.sorted().map { candidates[$0] }
        var validation: [SyntheticExample] = []
        if let corpus, settings.validationFraction > 0 {
            (selected, validation) = Self.holdOut(selected, fraction: settings.validationFraction, seed: settings.seed)
            let directory = store.directory.appendingPathComponent("validation")
            validation = try SyntheticDataExporter.writeHeldOut(validation, documents: corpus.documents, to: directory)
            progress("synthesize: held out \(validation.count) queries of \(Set(validation.compactMap { $0.positives.first?.documentID }).count) documents as validation in \(directory.path)")
        }

        // checkpoint.rejectedBytes keeps the length before these lines, so
        // a run stopped before the end redoes this step from a clean file.
        for item in finalRejections {
            try store.append(try encoder.encode(item), to: store.rejected)
        }
        var examplesData = Data()
        for example in selected {
            examplesData.append(try encoder.encode(example))
            examplesData.append(0x0A)
        }
        try store.writeAtomically(examplesData, to: store.examples)

        // Items past the cutoff ran only because others were still in
        // flight; leaving them out keeps the counts independent of concurrency.
        var byCode: [String: Int] = [:]
        for item in rejected where cutoff.map({ item.index <= $0 }) ?? true { byCode[item.code, default: 0] += 1 }
        let itemRejections = byCode
        for item in finalRejections { byCode[item.code, default: 0] += 1 }
        var byDomain: [String: Int] = [:]
        var byKind: [String: Int] = [:]
        for example in selected {
            byDomain[example.seed.domain, default: 0] += 1
            byKind[example.seed.domainKind.rawValue, default: 0] += 1
        }
        let stats = SynthesisStats(
            target: settings.target, poolTarget: poolTarget, seed: settings.seed, generatorModel: generator.identifier,
            judgeModel: judgeIdentifier, promptVersions: prompts.versions, itemsAttempted: completed.count,
            poolCutoffIndex: cutoff, poolAccepted: candidates.count, selected: selected.count,
            shortfall: max(0, settings.target - selected.count), rejectedByCode: byCode, selectedByDomain: byDomain,
            selectedByDomainKind: byKind, usage: checkpoint.usage,
            estimatedPromptTokens: checkpoint.usage.estimatedPromptTokens,
            estimatedCompletionTokens: checkpoint.usage.estimatedCompletionTokens, finishedAt: Timestamp.now(),
            corpus: corpus?.name, validationQueries: corpus != nil && settings.validationFraction > 0 ? validation.count : nil,
            quality: try await QualityReport.measure(
                examples: selected, accepted: candidates.count, itemRejections: itemRejections, corpus: corpus, embedder: embedder, settings: settings,
                roundTrip: roundTrip.map { QualityReport.RoundTrip(scorer: $0.scorerName, k: $0.k, dropped: itemRejections["round-trip-failed"] ?? 0) }))
        let statsEncoder = SynthesisStore.encoder()
        statsEncoder.outputFormatting.insert(.prettyPrinted)
        try store.writeAtomically(try statsEncoder.encode(stats), to: store.stats)
        checkpoint.finalized = true
        try store.writeAtomically(try encoder.encode(checkpoint), to: store.checkpoint)
        if stats.shortfall > 0 {
            progress("synthesize: warning: only \(stats.selected) of \(settings.target) examples after \(completed.count) items (max_items \(settings.effectiveMaxItems)); see rejected.jsonl")
        }
        progress("synthesize: wrote \(selected.count) examples to \(store.examples.path)")
        return stats
    }

    /// Removes examples whose query (case and spacing aside) an earlier one already has.
    static func exactDuplicates(_ candidates: [SyntheticExample]) -> (kept: [Int], removed: [NearDuplicateFilter.Duplicate]) {
        var first: [String: Int] = [:]
        var kept: [Int] = []
        var removed: [NearDuplicateFilter.Duplicate] = []
        for (position, example) in candidates.enumerated() {
            let key = MinHash.words(example.queryWithInstruction).joined(separator: " ")
            if let earlier = first[key] {
                removed.append(NearDuplicateFilter.Duplicate(position: position, duplicateOf: earlier, code: "duplicate-query",
                                                             reason: "the same query as an earlier example"))
            } else {
                first[key] = position
                kept.append(position)
            }
        }
        return (kept, removed)
    }

    /// Splits `examples` by source document: every query of a document
    /// whose seeded hash falls below `fraction` is held out, so no held-out
    /// document is also a training positive.
    static func holdOut(_ examples: [SyntheticExample], fraction: Double, seed: UInt64) -> (training: [SyntheticExample], validation: [SyntheticExample]) {
        var training: [SyntheticExample] = []
        var validation: [SyntheticExample] = []
        for example in examples {
            let document = example.positives.first?.documentID ?? example.positives.first?.text ?? example.id
            let unit = Double(StableHash.of(document, seed: seed ^ 0x7A11_DA7E) >> 11) / Double(1 << 53)
            if unit < fraction { validation.append(example) } else { training.append(example) }
        }
        return (training, validation)
    }
}
