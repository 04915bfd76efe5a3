import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NostrCrypto

/// The request context of every route: the trace id of the request, which is also in its logger's metadata.
struct SignerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var traceID: String
    /// Where the request came from, for per-address limits.
    let clientAddress: ClientAddress

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.traceID = ""
        self.clientAddress = ClientAddress(source.channel.remoteAddress)
    }

    /// Request bodies are small JSON documents; anything larger is refused with 413 before it is read.
    var maxUploadSize: Int { 256 * 1024 }
}

/// An error answered as `{"error": "<message>", "code": "<code>"}`. Messages are written for the caller and never
/// carry secrets, internal errors or request content beyond short, truncated names.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func invalidParams(_ message: String) -> Self { Self(.badRequest, "invalid_params", message) }
    static func notFound(_ message: String) -> Self { Self(.notFound, "not_found", message) }
    static let internalError = Self(.internalServerError, "internal", "the signer could not complete the request; try again")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(.object(["error": .string(self.message), "code": .string(self.code)]), status: self.status)
        response.headers.append(contentsOf: self.headers)
        return response
    }
}

/// JSON in and out with NostrCrypto's strict parser and deterministic writer.
enum JSONBody {
    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized()))
        )
    }

    /// `{"result": <resultJSON>}` with the result already written as JSON text.
    static func response(resultJSON: String) -> Response {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(resultJSON.utf8.count + 11)
        buffer.writeString(#"{"result":"#)
        buffer.writeString(resultJSON)
        buffer.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
    }

    /// The request body as a JSON object; 400 when it is not one, 413 when it is over the context's limit.
    static func object(_ request: Request, context: SignerRequestContext) async throws -> [String: JSONValue] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the request body is over \(context.maxUploadSize) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw APIError.invalidParams("the body is not valid JSON: \(error)")
        }
        guard let object = value.objectValue else { throw APIError.invalidParams("the body must be a JSON object") }
        return object
    }

    static func optionalString(_ object: [String: JSONValue], _ field: String) throws -> String? {
        guard let value = object[field], value != .null else { return nil }
        guard let text = value.stringValue else { throw APIError.invalidParams("\(field) must be a string") }
        return text
    }

    static func optionalInteger(_ object: [String: JSONValue], _ field: String) throws -> Int64? {
        guard let value = object[field], value != .null else { return nil }
        guard let number = value.integerValue else { throw APIError.invalidParams("\(field) must be an integer") }
        return number
    }

    static func number(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }
}

extension Request {
    /// The bearer token of the `Authorization` header, if there is one.
    var bearerToken: String? {
        self.headers[.authorization].flatMap(Self.bearerToken(authorization:))
    }

    /// The token of an `Authorization: Bearer <token>` value ("Bearer" in any case; spaces around the token
    /// ignored). Byte by byte: this runs on every request.
    static func bearerToken(authorization header: String) -> String? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count, bytes[scheme.count] == UInt8(ascii: " "),
            zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        var start = scheme.count
        var end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        return start < end ? String(decoding: bytes[start..<end], as: UTF8.self) : nil
    }
}

/// Unix seconds now.
let unixClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
