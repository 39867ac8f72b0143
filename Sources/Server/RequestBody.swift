import Foundation
import Hummingbird
import NIOCore

/// Reads and decodes a JSON body within the size and time limits, so a huge
/// body gets 413, a trickling one 408, and broken JSON 400 naming the field.
struct RequestBodyReader: Sendable {
    let maxBytes: Int
    let timeoutSeconds: Double

    func decode<T: Decodable & Sendable>(_ type: T.Type, from request: Request) async throws -> T {
        let data = try await read(request)
        if data.isEmpty { throw ServerError.badRequest("request body is empty; expected a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ServerError.from(error)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.badRequest("invalid request body: \(error)")
        }
    }

    func read(_ request: Request) async throws -> Data {
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared), length >= 0 else {
                throw ServerError.badRequest("invalid Content-Length '\(declared)'")
            }
            if length > maxBytes { throw ServerError.payloadTooLarge(limitBytes: maxBytes) }
        }
        let body = request.body
        let limit = maxBytes
        let timeout = timeoutSeconds
        return try await withThrowingTaskGroup(of: Data?.self) { group in
            group.addTask {
                do {
                    let buffer = try await body.collect(upTo: limit)
                    return Data(buffer.readableBytesView)
                } catch let error as HTTPError where error.status == .contentTooLarge {
                    throw ServerError.payloadTooLarge(limitBytes: limit)
                } catch is NIOTooManyBytesError {
                    // A chunked body has no Content-Length to check up front.
                    throw ServerError.payloadTooLarge(limitBytes: limit)
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let data = first else {
                throw ServerError.requestTimeout(seconds: timeout)
            }
            return data
        }
    }
}
