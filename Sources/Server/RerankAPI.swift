import Foundation

/// A document in a rerank request: a bare string or an object with `text`
/// (Cohere v2 / Jina accept both).
enum RerankDocument: Decodable, Sendable {
    case text(String)

    private enum Keys: String, CodingKey { case text }

    init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            self = .text(text)
            return
        }
        let container: KeyedDecodingContainer<Keys>
        do {
            container = try decoder.container(keyedBy: Keys.self)
        } catch {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath, debugDescription: "a document must be a string or an object with 'text'"))
        }
        self = .text(try container.decode(String.self, forKey: .text))
    }

    var text: String { switch self { case .text(let text): return text } }
}

/// POST /v1/rerank, the Cohere/Jina shape.
struct RerankRequest: Decodable, Sendable {
    var model: String?
    var query: String
    var documents: [RerankDocument]
    var top_n: Int?
    var return_documents: Bool?
    /// LimRank's extension for `serve --fuse`: the first stage's score of each document.
    var first_stage_scores: [Double]?
}

struct RerankResponse: Encodable, Sendable {
    struct Result: Encodable, Sendable {
        struct Document: Encodable, Sendable { var text: String }
        var index: Int
        var relevance_score: Double
        var document: Document?
    }
    /// Cohere's `meta.api_version`, which its SDKs read.
    struct Meta: Encodable, Sendable {
        struct APIVersion: Encodable, Sendable { var version: String }
        var api_version: APIVersion
    }
    var id: String
    var model: String
    var results: [Result]
    var meta: Meta?
}

/// POST /rerank, the Text Embeddings Inference shape.
struct TEIRerankRequest: Decodable, Sendable {
    var query: String
    var texts: [String]
    var raw_scores: Bool?
    var return_text: Bool?
    var truncate: Bool?
    /// LimRank's extension for `serve --fuse`: the first stage's score of each text.
    var first_stage_scores: [Double]?
}

struct TEIRerankResult: Encodable, Sendable {
    var index: Int
    var score: Double
    var text: String?
}

/// POST /v1/embeddings input: one string or many (token-id arrays are refused
/// with a message, since ids of another tokenizer would mean nothing here).
enum EmbeddingInput: Decodable, Sendable {
    case texts([String])

    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let text = try? single.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? single.decode([String].self) {
            self = .texts(texts)
        } else if (try? single.decode([Int].self)) != nil || (try? single.decode([[Int]].self)) != nil {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath, debugDescription: "token-id input is not supported; send strings"))
        } else {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath, debugDescription: "'input' must be a string or an array of strings"))
        }
    }
}

struct EmbeddingsRequest: Decodable, Sendable {
    var input: EmbeddingInput
    var model: String?
    var encoding_format: String?
    var dimensions: Int?
    var user: String?
}

struct EmbeddingsResponse: Encodable, Sendable {
    enum Vector: Encodable, Sendable {
        case float([Float])
        case base64(String)
        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .float(let values): try container.encode(values)
            case .base64(let text): try container.encode(text)
            }
        }
    }
    struct Item: Encodable, Sendable {
        var object = "embedding"
        var index: Int
        var embedding: Vector
    }
    struct Usage: Encodable, Sendable { var prompt_tokens: Int; var total_tokens: Int }
    var object = "list"
    var data: [Item]
    var model: String
    var usage: Usage
}

struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var owned_by = "limrank"
        /// What the model is served for: "rerank", "embeddings", "generation".
        var capabilities: [String]
    }
    var object = "list"
    var data: [Model]
}
