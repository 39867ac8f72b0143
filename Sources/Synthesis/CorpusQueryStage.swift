import Datasets
import LanguageModels

/// Corpus mode, stage 2: a persona's reasoning-intensive question that a
/// given collection document answers, in the persona's words rather than the
/// document's.
public struct CorpusQueryStage: Sendable {
    public static let name = "corpus-query"
    public var model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    /// `problem` says why a well-formed query is still unusable (too short,
    /// copies the document); such a query is re-asked with the problem stated,
    /// up to `max_reasks` times, and the last one is returned for the
    /// filters to reject. Only unparseable answers end in `malformedOutput`.
    public func run(seed: Seed, document: String, context: inout ItemContext,
                    problem: (QueryAnswer) -> String? = { _ in nil }) async throws -> QueryAnswer {
        let messages = context.prompts.corpusQuery.render([
            "persona": seed.persona,
            "document": document,
            "instruction_request": seed.wantsInstruction ? QueryGenerationStage.instructionRequest : QueryGenerationStage.noInstruction,
        ])
        var conversation = messages
        var answer = try await once(seed: seed, messages: conversation, context: &context)
        for _ in 0..<context.settings.maxReasks {
            guard let reason = problem(answer) else { break }
            context.usage.reasks += 1
            let previous = ScriptedLanguageModel.object(["query": answer.query, "instruction": answer.instruction])
            conversation = messages + [
                ChatMessage(.assistant, previous),
                ChatMessage(.user, "That question cannot be used: \(reason). Write a different question in the persona's own words. Respond with only the JSON object asked for."),
            ]
            answer = try await once(seed: seed, messages: conversation, context: &context)
        }
        return answer
    }

    func once(seed: Seed, messages: [ChatMessage], context: inout ItemContext) async throws -> QueryAnswer {
        try await QueryAnswer.ask(model: model, stage: Self.name, seed: seed, messages: messages, context: &context)
    }
}

extension SynthesisPipeline {
    /// Corpus mode, one item: a source document (the item's pick in the
    /// corpus's diverse order), a query written for it, the document as the
    /// positive, and hard negatives mined from BM25 and dense top-k with
    /// likely false negatives dropped.
    func processCorpusItem(_ index: Int, corpus: SynthesisCorpus, personaFit: PersonaFit?) async throws -> ItemOutcome {
        var context = ItemContext(index: index, settings: settings, prompts: prompts)
        var seed = seeds.seed(forItem: index, runSeed: settings.seed, instructionRate: settings.instructionRate, rng: &context.rng)
        // The collection is the domain: its documents decide the topic.
        seed.domain = corpus.name
        seed.domainKind = .expert
        let id = Self.exampleID(index)
        let sourcePosition = corpus.document(forItem: index)
        let document = corpus.documents[sourcePosition]
        if let personaFit, settings.source == .llm {
            seed.persona = personaFit.persona(forItem: index, runSeed: settings.seed, position: sourcePosition, in: corpus)
        }
        var shown = leadingWords(document.contents, settings.corpusDocumentWords)
        // The positive's text: the whole document, except where the source took the query out of it.
        var positiveText = document.contents
        let querySource = settings.source
        // Round r of a document: items cycle through the documents, so item i is the (i / count)-th query of its document.
        let round = index / max(1, corpus.order.count)
        var queryText: String?
        var dropped: [DroppedPassage] = []
        let filter = QualityFilter(settings: settings)
        let useDense = settings.falseNegativeFilter != "llm"
        let useJudge = settings.falseNegativeFilter != "dense"

        func reject(_ stage: String, _ code: String, _ reason: String) -> ItemOutcome {
            var item = RejectedItem(
                id: id, index: index, stage: stage, code: code, reason: reason, seed: seed, query: queryText,
                generatorModel: generator.identifier, judgeModel: judgeIdentifier, promptVersions: prompts.versions,
                createdAt: Timestamp.now(), usage: context.usage)
            item.documentID = document.id
            item.generatorModel = generatorIdentifier
            item.droppedNegatives = dropped.isEmpty ? nil : dropped
            return .rejected(item)
        }

        do {
            let query: QueryAnswer
            switch querySource {
            case .llm:
                query = try await llmQuery(seed: seed, shown: shown, document: document, filter: filter, context: &context)
            case .title:
                guard let made = DocumentQueries.title(document) else {
                    return reject("source", "no-title", "document \(document.id) has no title (or no body) to make a title query from")
                }
                query = QueryAnswer(query: made.query)
                positiveText = made.positive
            case .ict:
                guard let made = DocumentQueries.ict(document, round: round, minWords: settings.queryWords.min, seed: settings.seed) else {
                    return reject("source", "no-sentence-left",
                                  "document \(document.id) has no sentence of \(settings.queryWords.min)+ words left for query \(round + 1) (or no other sentence to be the positive)")
                }
                query = QueryAnswer(query: made.query)
                positiveText = made.positive
            }
            if querySource != .llm { shown = leadingWords(positiveText, settings.corpusDocumentWords) }
            queryText = query.query
            if let failure = filter.checkQuery(query.query) { return reject("quality", failure.code, failure.reason) }
            // Copying the document's phrasing makes a keyword-matching query, not a reasoning one
            // (a title or a removed sentence is the document's phrasing by design).
            let copied = QualityFilter.trigramContainment(of: query.query, in: document.contents)
            if querySource == .llm, copied > settings.restatementThreshold {
                return reject("quality", "query-copies-document",
                              "query shares \(Int((copied * 100).rounded()))% of its word trigrams with the document")
            }

            let queryVector = try await embedder.embed([query.query]).first ?? []
            if let roundTrip, try await roundTrip.rank(query: query.query, queryVector: queryVector, source: sourcePosition, corpus: corpus) == nil {
                return reject("round-trip", "round-trip-failed",
                              "the source document is not in \(roundTrip.scorerName)'s top \(roundTrip.k) for the query")
            }

            let judgeStage = RelevanceJudgeStage(model: judge)
            var positiveVotes: [Bool] = []
            if useJudge {
                positiveVotes = try await judgeStage.votes(query: query, passage: shown, context: &context)
                guard positiveVotes.allSatisfy({ $0 }) else {
                    return reject("judge", "judge-rejected-positive",
                                  "judge votes on the source document: \(positiveVotes.map { $0 ? "relevant" : "not" }.joined(separator: ", "))")
                }
            }

            // Candidates: BM25 and dense ranks interleaved (1st of each, then 2nd, ...), source and unusable documents left out.
            let lexical = corpus.bm25Ranking(query.query, topK: settings.negativeDepth + 1)
            let dense = corpus.denseRanking(queryVector, topK: settings.negativeDepth + 1)
            var candidates: [(position: Int, from: String)] = []
            var seen: Set<Int> = [sourcePosition]
            for k in 0..<max(lexical.count, dense.count) {
                for (list, from) in [(lexical, "bm25"), (dense, "dense")] where k < list.count {
                    let position = list[k]
                    if corpus.isEligible(position), seen.insert(position).inserted { candidates.append((position, from)) }
                }
            }
            let positiveScore = corpus.denseScore(queryVector, sourcePosition)
            // TopK-PercPos: above this share of the positive's similarity a negative is likely relevant too.
            let ceiling = positiveScore - (1 - settings.falseNegativeMargin) * abs(positiveScore)
            var judgedNegatives: [JudgedPassage] = []
            var judged = 0
            for candidate in candidates where judgedNegatives.count < settings.negativesPerQuery {
                let negative = corpus.documents[candidate.position]
                let rank = "\(candidate.from) candidate"
                if useDense {
                    let score = corpus.denseScore(queryVector, candidate.position)
                    if score > ceiling {
                        dropped.append(DroppedPassage(
                            text: negative.contents, votes: [], code: "likely-false-negative-dense",
                            reason: "\(rank): query similarity \(NearDuplicateFilter.format(score)) > \(NearDuplicateFilter.format(settings.falseNegativeMargin)) x the source's \(NearDuplicateFilter.format(positiveScore))",
                            documentID: negative.id))
                        continue
                    }
                }
                var votes: [Bool] = []
                if useJudge {
                    // A model that calls everything relevant must not cost the whole depth.
                    if judged >= 3 * settings.negativesPerQuery { break }
                    judged += 1
                    votes = try await judgeStage.votes(query: query, passage: leadingWords(negative.contents, settings.corpusDocumentWords), context: &context)
                    if votes.contains(true) {
                        dropped.append(DroppedPassage(
                            text: negative.contents, votes: votes, code: "judge-found-negative-relevant",
                            reason: "\(rank): \(votes.filter { $0 }.count) of \(votes.count) judge votes say relevant", documentID: negative.id))
                        continue
                    }
                }
                // A title query's positive is a body, so its negatives are bodies too: a title must not tell them apart.
                let body = querySource == .title ? DocumentQueries.body(negative) : ""
                let negativeText = body.isEmpty ? negative.contents : body
                judgedNegatives.append(JudgedPassage(id: "\(id)-n\(judgedNegatives.count)", text: negativeText, votes: votes, documentID: negative.id))
            }
            if judgedNegatives.count < settings.minNegatives {
                return reject(useJudge ? "judge" : "mining", "too-few-negatives",
                              "\(judgedNegatives.count) negative(s) left of \(candidates.count) mined candidates after the false-negative filter, \(settings.minNegatives) needed")
            }
            var positive = JudgedPassage(id: "\(id)-p0", text: positiveText, votes: positiveVotes, documentID: document.id)
            if settings.reasoningTraces {
                let traces = ReasoningTraceStage(model: generator)
                positive.reasoning = try await traces.run(query: query, passage: shown, relevant: true, context: &context)
                for k in judgedNegatives.indices {
                    judgedNegatives[k].reasoning = try await traces.run(
                        query: query, passage: leadingWords(judgedNegatives[k].text, settings.corpusDocumentWords), relevant: false, context: &context)
                }
            }
            return .accepted(SyntheticExample(
                id: id, index: index, seed: seed, query: query.query, instruction: query.instruction,
                positives: [positive], negatives: judgedNegatives, droppedNegatives: dropped,
                generatorModel: generatorIdentifier, judgeModel: judgeIdentifier, promptVersions: prompts.versions,
                createdAt: Timestamp.now(), usage: context.usage))
        } catch SynthesisError.malformedOutput(let stage, let attempts, let reason) {
            return reject(stage, "malformed-output", "no usable answer after \(attempts) attempt(s): \(reason)")
        }
    }

    /// Today's LLM query for the document: re-asked while it is too short or
    /// copies the document, then checked once more by the caller's filters.
    func llmQuery(seed: Seed, shown: String, document: Document, filter: QualityFilter, context: inout ItemContext) async throws -> QueryAnswer {
        try await CorpusQueryStage(model: generator).run(seed: seed, document: shown, context: &context) { answer in
            if let failure = filter.checkQuery(answer.query) { return failure.reason }
            let copied = QualityFilter.trigramContainment(of: answer.query, in: document.contents)
            if copied > settings.restatementThreshold {
                return "it copies the document's wording (\(Int((copied * 100).rounded()))% of its word trigrams)"
            }
            return nil
        }
    }
}
