import Foundation
import Grammar
import Hummingbird
import LanguageModels

/// POST /v1/chat/completions and /v1/completions on the served generator,
/// whole or as server-sent events.
struct CompletionsController<Context: RequestContext>: Sendable {
    let generator: (any StreamingTextGenerator)?
    let gate: AdmissionGate
    let reader: RequestBodyReader
    let maxTokens: Int
    /// `--served-model-name`: when set, the only name accepted and the one reported.
    var servedName: String? = nil
    var aliases: [String: String] = [:]

    /// OpenAI's own limits on alternatives and stop strings.
    static var maxTopLogProbabilities: Int { 20 }
    static var maxStopStrings: Int { 4 }

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/chat/completions") { request, _ in try await self.chat(request) }
        router.post("/v1/completions") { request, _ in try await self.completion(request) }
    }

    private func served(_ endpoint: String, model: String?) throws -> any StreamingTextGenerator {
        guard let generator else { throw ServerError.notServed(endpoint: endpoint, reason: "the server was started without a generation model") }
        let reported = servedName ?? generator.identifier
        if let model, !model.isEmpty, model != reported, servedName != nil || aliases[model] != generator.identifier {
            throw ServerError.notServed(endpoint: endpoint, reason: "model '\(model)' is not loaded (serving '\(reported)')")
        }
        return generator
    }

    /// The checks common to both endpoints; returns the request for the generator.
    private func sampling(prompt: GenerationPrompt, maxTokens requested: Int?, defaultMaxTokens: Int, temperature: Double?,
                          topP: Double?, seed: Int64?, stop: StopField?, n: Int?, topLogProbabilities: Int,
                          responseFormat: ResponseFormat?) throws -> TextGenerationRequest {
        let tokens = requested ?? defaultMaxTokens
        if tokens < 1 || tokens > maxTokens {
            throw ServerError.badRequest("'max_tokens' must be in 1...\(maxTokens), got \(tokens)", param: "max_tokens")
        }
        let temperature = temperature ?? 1
        if !(0...2).contains(temperature) {
            throw ServerError.badRequest("'temperature' must be in 0...2, got \(temperature)", param: "temperature")
        }
        let topP = topP ?? 1
        if !(topP > 0 && topP <= 1) { throw ServerError.badRequest("'top_p' must be in (0, 1], got \(topP)", param: "top_p") }
        if let n, n != 1 { throw ServerError.badRequest("only n = 1 is supported, got \(n)", param: "n") }
        let stops = stop?.values ?? []
        if stops.count > Self.maxStopStrings || stops.contains(where: \.isEmpty) {
            throw ServerError.badRequest("'stop' takes at most \(Self.maxStopStrings) non-empty strings", param: "stop")
        }
        if !(0...Self.maxTopLogProbabilities).contains(topLogProbabilities) {
            throw ServerError.badRequest("top log-probabilities must be in 0...\(Self.maxTopLogProbabilities), got \(topLogProbabilities)",
                                         param: "top_logprobs")
        }
        return TextGenerationRequest(prompt: prompt, maxTokens: tokens, temperature: temperature, topP: topP,
                                     seed: UInt64(bitPattern: seed ?? 0), stop: stops, topLogProbabilities: topLogProbabilities,
                                     responseFormat: responseFormat)
    }

    /// The body decoded, and its raw bytes (a JSON schema's property order
    /// is read from them: `JSONDecoder` does not keep key order).
    private func decode<T: Decodable & Sendable>(_ type: T.Type, from request: Request) async throws -> (T, Data) {
        let data = try await reader.read(request)
        if data.isEmpty { throw ServerError.badRequest("request body is empty; expected a JSON object") }
        do {
            return (try JSONDecoder().decode(T.self, from: data), data)
        } catch let error as DecodingError {
            throw ServerError.from(error)
        }
    }

    /// `response_format` (or llama.cpp's `grammar`) as the generator takes it;
    /// a schema or grammar that cannot be compiled is a 400 naming where it is wrong.
    static func responseFormat(_ field: ResponseFormatField?, grammar: String?, body: Data) throws -> ResponseFormat? {
        if let grammar {
            if field != nil, field?.type != "text" {
                throw ServerError.badRequest("give 'response_format' or 'grammar', not both", param: "grammar")
            }
            do {
                _ = try Grammar(gbnf: grammar, source: "grammar")
            } catch let error as GrammarError {
                throw ServerError.badRequest("invalid 'grammar': \(error)", param: "grammar")
            }
            return .grammar(grammar)
        }
        guard let field else { return nil }
        switch field.type {
        case "text":
            return nil
        case "json_object":
            return .jsonObject
        case "json_schema":
            guard let definition = field.json_schema, let decoded = definition.schema else {
                throw ServerError.badRequest("'response_format.json_schema.schema' is required for type 'json_schema'", param: "response_format")
            }
            let name = definition.name ?? "response"
            if !JSONSchemaGrammar.isValidSchemaName(name) {
                throw ServerError.badRequest("'response_format.json_schema.name' must be 1 to 64 of a-z, A-Z, 0-9, '_' and '-'",
                                             param: "response_format.json_schema.name")
            }
            let ordered = (try? JSONValue(parsing: String(decoding: body, as: UTF8.self)))?["response_format"]?["json_schema"]?["schema"]
            let schema = (ordered ?? decoded).compactText
            do {
                _ = try JSONSchemaGrammar.grammar(schema: schema, source: "response_format.json_schema.schema")
            } catch let error as GrammarError {
                throw ServerError.badRequest("invalid 'response_format.json_schema.schema': \(error)", param: "response_format.json_schema.schema")
            }
            return .jsonSchema(name: name, schema: schema)
        default:
            throw ServerError.badRequest("unsupported 'response_format.type' '\(field.type)' (text, json_object, json_schema)",
                                         param: "response_format.type")
        }
    }

    // MARK: chat

    func chat(_ request: Request) async throws -> Response {
        let (body, raw) = try await decode(ChatCompletionRequest.self, from: request)
        let generator = try served("/v1/chat/completions", model: body.model)
        if body.messages.isEmpty { throw ServerError.badRequest("'messages' must not be empty", param: "messages") }
        let messages = try body.messages.enumerated().map { index, message -> ChatMessage in
            switch message.role {
            case "system", "developer": return ChatMessage(.system, message.content.text)
            case "user": return ChatMessage(.user, message.content.text)
            case "assistant": return ChatMessage(.assistant, message.content.text)
            default:
                throw ServerError.badRequest("unsupported role '\(message.role)' (system, developer, user, assistant)",
                                             param: "messages.[\(index)].role")
            }
        }
        if body.top_logprobs != nil, body.logprobs != true {
            throw ServerError.badRequest("'top_logprobs' requires 'logprobs': true", param: "top_logprobs")
        }
        let wantLogprobs = body.logprobs ?? false
        let generation = try sampling(
            prompt: .chat(messages), maxTokens: body.max_completion_tokens ?? body.max_tokens, defaultMaxTokens: min(256, maxTokens),
            temperature: body.temperature, topP: body.top_p, seed: body.seed, stop: body.stop, n: body.n,
            topLogProbabilities: wantLogprobs ? (body.top_logprobs ?? 0) : 0,
            responseFormat: try Self.responseFormat(body.response_format, grammar: body.grammar, body: raw))
        let id = "chatcmpl-" + UUID().uuidString.lowercased()
        let created = Int(Date().timeIntervalSince1970)
        let model = servedName ?? generator.identifier

        try await gate.enter()
        if body.stream ?? false {
            let includeUsage = body.stream_options?.include_usage ?? false
            return streamEvents(gate: gate) { writer in
                func chunk(_ choice: ChatChoice?, usage: WireUsage? = nil) throws -> ByteBuffer {
                    try event(ChatCompletion(id: id, object: "chat.completion.chunk", created: created, model: model,
                                             choices: choice.map { [$0] } ?? [], usage: usage))
                }
                try await writer.write(chunk(ChatChoice(delta: .init(role: "assistant", content: ""))))
                try await Self.run(generator, generation) { text, tokens in
                    let logprobs = wantLogprobs ? ChatLogProbs(content: tokens.map(ChatLogProb.init)) : nil
                    try await writer.write(chunk(ChatChoice(delta: .init(content: text), logprobs: logprobs)))
                } finished: { reason, usage in
                    try await writer.write(chunk(ChatChoice(delta: .init(), finish_reason: reason)))
                    if includeUsage { try await writer.write(chunk(nil, usage: WireUsage(usage))) }
                }
            }
        }
        let output = try await collectReleasingGate(generator, generation)
        let choice = ChatChoice(message: .init(role: "assistant", content: output.text),
                                logprobs: wantLogprobs ? ChatLogProbs(content: output.tokens.map(ChatLogProb.init)) : nil,
                                finish_reason: output.reason)
        return try json(ChatCompletion(id: id, object: "chat.completion", created: created, model: model,
                                       choices: [choice], usage: WireUsage(output.usage)))
    }

    // MARK: completions

    func completion(_ request: Request) async throws -> Response {
        let (body, raw) = try await decode(CompletionRequest.self, from: request)
        let generator = try served("/v1/completions", model: body.model)
        let echo = body.echo ?? false
        if echo, body.stream ?? false { throw ServerError.badRequest("'echo' is not supported with 'stream'", param: "echo") }
        if echo, !(generator is any PromptScoringGenerator) {
            throw ServerError.badRequest("'echo' is not supported by this model", param: "echo")
        }
        if body.suffix != nil { throw ServerError.badRequest("'suffix' is not supported", param: "suffix") }
        guard case .text(let prompt) = body.prompt else { throw ServerError.badRequest("'prompt' is required", param: "prompt") }
        if prompt.isEmpty { throw ServerError.badRequest("'prompt' must not be empty", param: "prompt") }
        let generation = try sampling(
            prompt: .raw(prompt), maxTokens: body.max_tokens, defaultMaxTokens: min(16, maxTokens), temperature: body.temperature,
            topP: body.top_p, seed: body.seed, stop: body.stop, n: body.n, topLogProbabilities: body.logprobs ?? 0,
            responseFormat: try Self.responseFormat(body.response_format, grammar: body.grammar, body: raw))
        let wantLogprobs = body.logprobs != nil
        let id = "cmpl-" + UUID().uuidString.lowercased()
        let created = Int(Date().timeIntervalSince1970)
        let model = servedName ?? generator.identifier

        try await gate.enter()
        if body.stream ?? false {
            let includeUsage = body.stream_options?.include_usage ?? false
            return streamEvents(gate: gate) { writer in
                var offset = 0
                try await Self.run(generator, generation) { text, tokens in
                    let logprobs = wantLogprobs ? CompletionLogProbs(tokens, offset: &offset) : nil
                    try await writer.write(event(Completion(id: id, created: created, model: model,
                                                            choices: [CompletionChoice(text: text, logprobs: logprobs)])))
                } finished: { reason, usage in
                    try await writer.write(event(Completion(id: id, created: created, model: model,
                                                            choices: [CompletionChoice(text: "", finish_reason: reason)])))
                    if includeUsage {
                        try await writer.write(event(Completion(id: id, created: created, model: model, choices: [],
                                                                usage: WireUsage(usage))))
                    }
                }
            }
        }
        // `echo`: the prompt's own tokens and log-probabilities come first.
        var echoed: (text: String, logprobs: CompletionLogProbs, offset: Int)?
        if echo, let scorer = generator as? any PromptScoringGenerator {
            do {
                echoed = try await Self.echo(prompt, scorer)
            } catch {
                await gate.leave()
                throw error
            }
        }
        let output = try await collectReleasingGate(generator, generation)
        var offset = echoed?.offset ?? 0
        var logprobs = wantLogprobs ? CompletionLogProbs(output.tokens, offset: &offset) : nil
        if let echoed, let generated = logprobs { logprobs = echoed.logprobs.appending(generated) }
        return try json(Completion(id: id, created: created, model: model,
                                   choices: [CompletionChoice(text: (echoed?.text ?? "") + output.text, logprobs: logprobs,
                                                              finish_reason: output.reason)],
                                   usage: WireUsage(output.usage)))
    }

    // MARK: running the generator

    /// An SSE response whose body `write`s events; the admission gate entered
    /// for the request is left however the stream ends, an error after the
    /// 200 is sent in-band, and a finished stream ends with `[DONE]`.
    private func streamEvents(gate: AdmissionGate,
                              _ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        sse { writer in
            do {
                try await write(&writer)
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            } catch {
                await gate.leave()
                try? await writer.write(errorEvent(error))
                try await writer.finish(nil)
                return
            }
            await gate.leave()
            try await writer.finish(nil)
        }
    }

    /// The whole generation, leaving the admission gate whatever happens.
    private func collectReleasingGate(_ generator: any StreamingTextGenerator, _ request: TextGenerationRequest) async throws
        -> (text: String, tokens: [GeneratedToken], reason: FinishReason, usage: TokenUsage) {
        do {
            let output = try await Self.collect(generator, request)
            await gate.leave()
            return output
        } catch {
            await gate.leave()
            throw error
        }
    }

    /// Streams `request`, handing out text as soon as no stop string can
    /// still claim it, with the tokens that produced it. Tokens whose text is
    /// cut by a stop string are not reported.
    static func run(
        _ generator: any StreamingTextGenerator, _ request: TextGenerationRequest,
        emit: (String, [GeneratedToken]) async throws -> Void,
        finished: (FinishReason, TokenUsage) async throws -> Void
    ) async throws {
        var filter = StopSequenceFilter(stop: request.stop)
        var promptTokens = 0
        var completionTokens = 0
        var pendingTokens: [GeneratedToken] = []
        for try await event in generator.stream(request) {
            switch event {
            case .started(let count):
                promptTokens = count
            case .token(let token):
                completionTokens += 1
                let step = filter.feed(token.text)
                if step.stopped {
                    if !step.emit.isEmpty { try await emit(step.emit, pendingTokens) }
                    try await finished(.stop, TokenUsage(promptTokens: promptTokens, completionTokens: completionTokens))
                    return
                }
                pendingTokens.append(token)
                if !step.emit.isEmpty {
                    try await emit(step.emit, pendingTokens)
                    pendingTokens = []
                }
            case let .finished(reason, usage):
                let rest = filter.flush()
                if !rest.isEmpty || !pendingTokens.isEmpty { try await emit(rest, pendingTokens) }
                try await finished(reason, usage)
                return
            }
        }
        throw ServerError.internalError("generation ended without a finish event")
    }

    static func collect(_ generator: any StreamingTextGenerator, _ request: TextGenerationRequest) async throws
        -> (text: String, tokens: [GeneratedToken], reason: FinishReason, usage: TokenUsage) {
        var text = ""
        var tokens: [GeneratedToken] = []
        var result: (FinishReason, TokenUsage)?
        try await run(generator, request) { piece, pieceTokens in
            text += piece
            tokens += pieceTokens
        } finished: { reason, usage in
            result = (reason, usage)
        }
        guard let (reason, usage) = result else { throw ServerError.internalError("generation did not finish") }
        return (text, tokens, reason, usage)
    }
}

private func sse(_ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
    Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
             body: ResponseBody(write))
}

private func event<T: Encodable>(_ value: T) throws -> ByteBuffer {
    var buffer = ByteBuffer(string: "data: ")
    buffer.writeBytes(try JSONEncoder.server.encode(value))
    buffer.writeString("\n\n")
    return buffer
}

/// Once the 200 and the first events are out, an error can only be told in-band.
private func errorEvent(_ error: Error) -> ByteBuffer {
    let failure = ServerError.from(error)
    let envelope = ServerError.Envelope(error: .init(message: failure.description, type: failure.type, param: nil, code: failure.code))
    var buffer = ByteBuffer(string: "data: ")
    buffer.writeBytes((try? JSONEncoder.server.encode(envelope)) ?? Data("{}".utf8))
    buffer.writeString("\n\n")
    return buffer
}
