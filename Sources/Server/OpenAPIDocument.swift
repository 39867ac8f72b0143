/// The OpenAPI 3 description of every endpoint, served at /openapi.json.
/// Tests check live responses against the `required` fields and types here,
/// so this document and the handlers cannot drift apart silently.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.0.3",
  "info": {"title": "limrank serve", "version": "1.0.0",
           "description": "Reranking (Cohere/Jina and TEI shapes), OpenAI-compatible embeddings and generation."},
  "paths": {
    "/v1/rerank": {"post": {"operationId": "rerank", "security": [{"bearer": []}, {}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RerankRequest"}}}},
      "responses": {"200": {"description": "Documents best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RerankResponse"}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                    "404": {"$ref": "#/components/responses/Error"}, "408": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}}}},
    "/v2/rerank": {"post": {"operationId": "rerankV2", "security": [{"bearer": []}, {}],
      "description": "Cohere v2 (cohere.ClientV2): the /v1/rerank request; return_documents is ignored.",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RerankRequest"}}}},
      "responses": {"200": {"description": "Documents best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RerankResponse"}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                    "404": {"$ref": "#/components/responses/Error"}, "408": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}}}},
    "/rerank": {"post": {"operationId": "teiRerank",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TEIRerankRequest"}}}},
      "responses": {"200": {"description": "Texts best first", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/TEIRerankResult"}}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
                    "429": {"$ref": "#/components/responses/Error"}}}},
    "/v1/embeddings": {"post": {"operationId": "embeddings",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmbeddingsRequest"}}}},
      "responses": {"200": {"description": "One vector per input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmbeddingsResponse"}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
                    "429": {"$ref": "#/components/responses/Error"}}}},
    "/v1/chat/completions": {"post": {"operationId": "chatCompletions",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}}},
      "responses": {"200": {"description": "A completion, or server-sent chat.completion.chunk events ending with data: [DONE] when stream is true",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                                        "text/event-stream": {"schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                    "429": {"$ref": "#/components/responses/Error"}}}},
    "/v1/completions": {"post": {"operationId": "completions",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompletionRequest"}}}},
      "responses": {"200": {"description": "A completion, or server-sent text_completion events ending with data: [DONE] when stream is true",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Completion"}},
                                        "text/event-stream": {"schema": {"$ref": "#/components/schemas/Completion"}}}},
                    "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                    "429": {"$ref": "#/components/responses/Error"}}}},
    "/v1/models": {"get": {"operationId": "models",
      "responses": {"200": {"description": "Served models", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelList"}}}}}}},
    "/health": {"get": {"operationId": "health", "security": [],
      "responses": {"200": {"description": "Up", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}}}}}}},
    "/metrics": {"get": {"operationId": "metrics",
      "responses": {"200": {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"operationId": "openapi",
      "responses": {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Required only when the server was started with --api-key-env"}},
    "responses": {"Error": {"description": "OpenAI error shape", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": "string", "nullable": true}, "code": {"type": "string", "nullable": true}}}}},
      "RerankDocument": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}]},
      "RerankRequest": {"type": "object", "required": ["query", "documents"], "properties": {
        "model": {"type": "string"}, "query": {"type": "string", "minLength": 1},
        "documents": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/RerankDocument"}},
        "top_n": {"type": "integer", "minimum": 1}, "return_documents": {"type": "boolean", "default": false},
        "first_stage_scores": {"type": "array", "items": {"type": "number"}, "description": "LimRank extension, used by serve --fuse: the first stage's score of each document (default: the documents' order)"}}},
      "RerankResponse": {"type": "object", "required": ["id", "model", "results"], "properties": {
        "id": {"type": "string"}, "model": {"type": "string"},
        "results": {"type": "array", "items": {"type": "object", "required": ["index", "relevance_score"], "properties": {
          "index": {"type": "integer"}, "relevance_score": {"type": "number"},
          "document": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
        "meta": {"type": "object", "properties": {"api_version": {"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}}}}},
      "TEIRerankRequest": {"type": "object", "required": ["query", "texts"], "properties": {
        "query": {"type": "string", "minLength": 1}, "texts": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "raw_scores": {"type": "boolean", "default": false}, "return_text": {"type": "boolean", "default": false}, "truncate": {"type": "boolean"},
        "first_stage_scores": {"type": "array", "items": {"type": "number"}, "description": "LimRank extension, used by serve --fuse: the first stage's score of each text (default: the texts' order)"}}},
      "TEIRerankResult": {"type": "object", "required": ["index", "score"], "properties": {
        "index": {"type": "integer"}, "score": {"type": "number"}, "text": {"type": "string"}}},
      "EmbeddingsRequest": {"type": "object", "required": ["input"], "properties": {
        "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "model": {"type": "string"}, "encoding_format": {"type": "string", "enum": ["float", "base64"]}, "dimensions": {"type": "integer"}, "user": {"type": "string"}}},
      "EmbeddingsResponse": {"type": "object", "required": ["object", "data", "model", "usage"], "properties": {
        "object": {"type": "string"}, "model": {"type": "string"},
        "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"], "properties": {
          "object": {"type": "string"}, "index": {"type": "integer"},
          "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]}}}},
        "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"], "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}}}},
      "Message": {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "required": ["type", "text"], "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}}}}]}}},
      "Stop": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
      "ChatCompletionRequest": {"type": "object", "required": ["messages"], "properties": {
        "model": {"type": "string"}, "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
        "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number"}, "seed": {"type": "integer"},
        "stop": {"$ref": "#/components/schemas/Stop"}, "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "logprobs": {"type": "boolean"}, "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20}, "n": {"type": "integer", "enum": [1]},
        "response_format": {"$ref": "#/components/schemas/ResponseFormat"}, "grammar": {"$ref": "#/components/schemas/Grammar"}}},
      "ResponseFormat": {"type": "object", "required": ["type"], "description": "The output is constrained (grammar-constrained decoding) to any JSON object, or to JSON valid under a schema (type, properties, required, items, minItems, maxItems, enum, const, minLength, maxLength, anyOf, oneOf, local $ref); an unsupported or invalid schema is a 400. finish_reason 'length' means max_tokens cut the output off.", "properties": {
        "type": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
        "json_schema": {"type": "object", "required": ["schema"], "properties": {
          "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"}, "description": {"type": "string"}, "schema": {"type": "object"}, "strict": {"type": "boolean"}}}}},
      "Grammar": {"type": "string", "description": "llama.cpp's extension: a GBNF grammar (start rule 'root') the output must match; not with response_format."},
      "Usage": {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"], "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
      "TokenLogprob": {"type": "object", "required": ["token", "logprob", "bytes", "top_logprobs"], "properties": {
        "token": {"type": "string"}, "logprob": {"type": "number"}, "bytes": {"type": "array", "items": {"type": "integer"}},
        "top_logprobs": {"type": "array", "items": {"type": "object", "required": ["token", "logprob", "bytes"], "properties": {
          "token": {"type": "string"}, "logprob": {"type": "number"}, "bytes": {"type": "array", "items": {"type": "integer"}}}}}}},
      "ChatCompletion": {"type": "object", "required": ["id", "object", "created", "model", "choices", "usage"], "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion"]}, "created": {"type": "integer"}, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "required": ["index", "message", "finish_reason", "logprobs"], "properties": {
          "index": {"type": "integer"},
          "message": {"type": "object", "required": ["role", "content"], "properties": {"role": {"type": "string"}, "content": {"type": "string"}}},
          "logprobs": {"type": "object", "nullable": true, "required": ["content"], "properties": {"content": {"type": "array", "items": {"$ref": "#/components/schemas/TokenLogprob"}}}},
          "finish_reason": {"type": "string", "enum": ["stop", "length"]}}}},
        "usage": {"$ref": "#/components/schemas/Usage"}}},
      "ChatCompletionChunk": {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion.chunk"]}, "created": {"type": "integer"}, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "required": ["index", "delta", "finish_reason"], "properties": {
          "index": {"type": "integer"}, "delta": {"type": "object", "properties": {"role": {"type": "string"}, "content": {"type": "string"}}},
          "logprobs": {"type": "object", "nullable": true}, "finish_reason": {"type": "string", "nullable": true, "enum": ["stop", "length"]}}}},
        "usage": {"$ref": "#/components/schemas/Usage"}}},
      "CompletionRequest": {"type": "object", "required": ["prompt"], "properties": {
        "model": {"type": "string"}, "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1}]},
        "max_tokens": {"type": "integer", "minimum": 1}, "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number"},
        "seed": {"type": "integer"}, "stop": {"$ref": "#/components/schemas/Stop"}, "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "logprobs": {"type": "integer", "minimum": 0, "maximum": 20}, "n": {"type": "integer", "enum": [1]},
        "response_format": {"$ref": "#/components/schemas/ResponseFormat"}, "grammar": {"$ref": "#/components/schemas/Grammar"}}},
      "Completion": {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["text_completion"]}, "created": {"type": "integer"}, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "required": ["index", "text", "finish_reason", "logprobs"], "properties": {
          "index": {"type": "integer"}, "text": {"type": "string"},
          "logprobs": {"type": "object", "nullable": true, "required": ["tokens", "token_logprobs", "top_logprobs", "text_offset"], "properties": {
            "tokens": {"type": "array", "items": {"type": "string"}}, "token_logprobs": {"type": "array", "items": {"type": "number", "nullable": true}},
            "top_logprobs": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "number"}}},
            "text_offset": {"type": "array", "items": {"type": "integer"}}}},
          "finish_reason": {"type": "string", "nullable": true, "enum": ["stop", "length"]}}}},
        "usage": {"$ref": "#/components/schemas/Usage"}}},
      "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"type": "string"}, "data": {"type": "array", "items": {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
          "id": {"type": "string"}, "object": {"type": "string"}, "created": {"type": "integer"}, "owned_by": {"type": "string"},
          "capabilities": {"type": "array", "items": {"type": "string"}}}}}}}
    }
  }
}
"""#
}
