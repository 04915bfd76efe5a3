import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NostrCrypto

/// The operator commands' way to the running server: its admin API over HTTP.
struct AdminClient: Sendable {
    /// `http://host:port`, without a trailing slash.
    let server: String
    let token: String
    let timeout: TimeAmount = .seconds(30)

    /// The file `signer serve` writes a generated admin token to (mode 0600), for the operator commands on the same
    /// machine.
    static func tokenFile(dataDirectory: String) -> String { dataDirectory + "/admin-token" }

    /// The admin token: `SIGNER_ADMIN_TOKEN`, else the data directory's token file.
    static func token(environment: [String: String], dataDirectory: String) throws -> String {
        if let token = environment["SIGNER_ADMIN_TOKEN"], !token.isEmpty { return token }
        let path = Self.tokenFile(dataDirectory: dataDirectory)
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw CommandLineError("no admin token: set SIGNER_ADMIN_TOKEN, or run where \(path) holds the one the server generated")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Why a request got no answer, in the system's words when it is a socket error ("Connection refused").
    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    /// Sends one request; returns the parsed body of a 2xx answer (nil when it has none).
    /// - Throws: ``CommandLineError`` with the server's error message, or why it could not be reached.
    func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue? {
        var request = HTTPClientRequest(url: self.server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.serialized()))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: self.timeout)
            bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            throw CommandLineError("cannot reach the signer at \(self.server): \(Self.describe(error))")
        }
        let parsed = bytes.readableBytes == 0 ? nil : try? JSONValue.parse(Array(bytes.readableBytesView))
        guard (200..<300).contains(response.status.code) else {
            let object = parsed?.objectValue
            let message = object?["error"]?.stringValue ?? "HTTP \(response.status.code)"
            let code = object?["code"]?.stringValue.map { " (\($0))" } ?? ""
            throw CommandLineError("the signer refused: \(message)\(code)")
        }
        return parsed
    }
}
