import Foundation
import Hummingbird
import Models

/// Everything the server answers with an error, and its HTTP status. The body
/// is the OpenAI error shape: `{"error": {"message", "type", "param", "code"}}`.
public enum ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request is malformed or violates a limit that is not about size; `param` names the field.
    case badRequest(String, param: String? = nil)
    case payloadTooLarge(limitBytes: Int)
    case unauthorized
    case notFound(String)
    case methodNotAllowed(String)
    /// The work queue is full; try again after this many seconds.
    case overloaded(retryAfterSeconds: Int)
    /// The body did not arrive in time.
    case requestTimeout(seconds: Double)
    /// The server has no backend for this endpoint (e.g. no generator loaded).
    case notServed(endpoint: String, reason: String)
    case internalError(String)
    /// A startup setting is unusable.
    case configuration(field: String, reason: String)

    public var status: HTTPResponse.Status {
        switch self {
        case .badRequest: return .badRequest
        case .payloadTooLarge: return .contentTooLarge
        case .unauthorized: return .unauthorized
        case .notFound, .notServed: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .overloaded: return .tooManyRequests
        case .requestTimeout: return .requestTimeout
        case .internalError, .configuration: return .internalServerError
        }
    }

    var type: String {
        switch self {
        case .badRequest, .payloadTooLarge, .notFound, .methodNotAllowed, .requestTimeout, .notServed:
            return "invalid_request_error"
        case .unauthorized: return "authentication_error"
        case .overloaded: return "rate_limit_error"
        case .internalError, .configuration: return "server_error"
        }
    }

    var code: String? {
        switch self {
        case .payloadTooLarge: return "payload_too_large"
        case .unauthorized: return "invalid_api_key"
        case .overloaded: return "overloaded"
        case .requestTimeout: return "request_timeout"
        case .notServed: return "model_not_found"
        default: return nil
        }
    }

    var param: String? {
        if case let .badRequest(_, param) = self { return param }
        return nil
    }

    public var description: String {
        switch self {
        case let .badRequest(message, _): return message
        case let .payloadTooLarge(limit): return "request body is larger than the limit of \(limit) bytes"
        case .unauthorized: return "missing or invalid bearer token in the Authorization header"
        case let .notFound(path): return "no endpoint at \(path)"
        case let .methodNotAllowed(what): return "method not allowed: \(what)"
        case let .overloaded(seconds): return "server is at capacity; retry after \(seconds) s"
        case let .requestTimeout(seconds): return "request body did not arrive within \(seconds) s"
        case let .notServed(endpoint, reason): return "\(endpoint) is not served: \(reason)"
        case let .internalError(message): return "internal error: \(message)"
        case let .configuration(field, reason): return "server configuration '\(field)': \(reason)"
        }
    }

    struct Envelope: Codable {
        struct Body: Codable {
            var message: String
            var type: String
            var param: String?
            var code: String?
        }
        var error: Body
    }

    func response() -> Response {
        let envelope = Envelope(error: .init(message: description, type: type, param: param, code: code))
        var headers: HTTPFields = [.contentType: "application/json"]
        if case let .overloaded(seconds) = self { headers[.retryAfter] = String(seconds) }
        let data = (try? JSONEncoder.server.encode(envelope)) ?? Data(#"{"error":{"message":"error"}}"#.utf8)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Maps any error a handler throws to what the client is told.
    static func from(_ error: Error) -> ServerError {
        switch error {
        case let error as ServerError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound(error.body ?? "path")
            case .contentTooLarge: return .payloadTooLarge(limitBytes: 0)
            case .methodNotAllowed: return .methodNotAllowed(error.body ?? "")
            case .unauthorized: return .unauthorized
            case let status where (400..<500).contains(status.code):
                return .badRequest(error.body ?? status.reasonPhrase)
            default: return .internalError(error.body ?? error.status.reasonPhrase)
            }
        case let error as DecodingError:
            return .badRequest(describeDecodingError(error), param: decodingErrorPath(error))
        // A request that does not fit the model's context or the machine's
        // memory is the client's to change (vLLM and OpenAI answer 400 too).
        case let error as ModelsError:
            switch error {
            case .generationTooLong, .cacheTooLarge: return .badRequest(error.description, param: "max_tokens")
            case .sequenceTooLong: return .badRequest(error.description, param: "messages")
            default: return .internalError(String(describing: error))
            }
        default:
            return .internalError(String(describing: error))
        }
    }
}

func decodingErrorPath(_ error: DecodingError) -> String? {
    let path: [CodingKey]
    switch error {
    case let .keyNotFound(key, context): path = context.codingPath + [key]
    case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context): path = context.codingPath
    @unknown default: return nil
    }
    if path.isEmpty { return nil }
    return path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}

func describeDecodingError(_ error: DecodingError) -> String {
    let field = decodingErrorPath(error).map { " at '\($0)'" } ?? ""
    switch error {
    case .keyNotFound(let key, _): return "missing required field '\(key.stringValue)'\(field)"
    case .typeMismatch(let type, _): return "wrong type\(field): expected \(type)"
    case .valueNotFound(let type, _): return "null where \(type) is required\(field)"
    case .dataCorrupted(let context):
        let underlying = (context.underlyingError as NSError?)?.localizedDescription ?? ""
        return "invalid JSON\(field): \(context.debugDescription) \(underlying)".trimmingCharacters(in: .whitespaces)
    @unknown default: return "invalid request body"
    }
}

extension JSONEncoder {
    static var server: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
}
