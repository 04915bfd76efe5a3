import Custody
import HTTPTypes
import Hummingbird
import Logging
import Nip46
import NostrCrypto

/// `POST /api/nostr`: Keycast's shape, `{"method", "params"}` with `Authorization: Bearer <access token>`. The token
/// resolves to exactly one authorization; the same policy engine, rate limits and audit trail as NIP-46 apply.
struct RPCController: Sendable {
    let custodian: KeyCustodian
    let auditLog: AuditLog
    let clock: @Sendable () -> Int64

    enum Method: String, CaseIterable {
        case getPublicKey = "get_public_key"
        case signEvent = "sign_event"
        case ping
        case nip04Encrypt = "nip04_encrypt"
        case nip04Decrypt = "nip04_decrypt"
        case nip44Encrypt = "nip44_encrypt"
        case nip44Decrypt = "nip44_decrypt"
    }

    func handle(_ request: Request, context: SignerRequestContext) async throws -> Response {
        // The token first: an unauthenticated caller learns nothing about methods or parameters.
        guard let token = request.bearerToken, let unlocked = try await self.custodian.unlock(accessToken: token) else {
            throw APIError(.unauthorized, "unauthorized", "the access token is unknown, revoked, expired or used up")
        }
        let body = try await JSONBody.object(request, context: context)
        guard let methodName = body["method"]?.stringValue else { throw APIError.invalidParams("method must be a string") }
        guard let method = Method(rawValue: methodName) else {
            throw APIError(.badRequest, "unsupported_method", "unsupported method \"\(LogText.truncated(methodName, maximumCharacters: 64))\"")
        }
        let params = body["params"]?.arrayValue ?? []
        if body["params"] != nil, body["params"] != .null, body["params"]?.arrayValue == nil {
            throw APIError.invalidParams("params must be an array")
        }
        let result = try await self.perform(method, params: params, unlocked: unlocked)
        return JSONBody.response(.object(["result": result]))
    }

    private func perform(_ method: Method, params: [JSONValue], unlocked: UnlockedAuthorization) async throws -> JSONValue {
        switch method {
        case .ping:
            return .string("pong")
        case .getPublicKey:
            try await self.authorize(method, kind: nil, unlocked: unlocked)
            self.audit(method, kind: nil, eventID: nil, unlocked: unlocked, outcome: "ok")
            return .string(unlocked.userKey.publicKey.hex)
        case .signEvent:
            let json: String
            switch params.first {
            case .object?: json = params[0].serialized()
            case .string(let text)?: json = text
            default: throw APIError.invalidParams("sign_event needs the event, as an object or a JSON string, as its first param")
            }
            let unsigned = try Self.translating { try Nip46RequestHandler.eventToSign(json: json, userKey: unlocked.userKey, now: self.clock()) }
            try await self.authorize(method, kind: unsigned.kind, unlocked: unlocked)
            let signed = try unsigned.signed(with: unlocked.userKey)
            self.audit(method, kind: unsigned.kind, eventID: signed.id.hex, unlocked: unlocked, outcome: "ok")
            return try JSONValue.parse(signed.jsonString())
        case .nip04Encrypt, .nip04Decrypt, .nip44Encrypt, .nip44Decrypt:
            let texts = try params.map { value -> String in
                guard let text = value.stringValue else { throw APIError.invalidParams("\(method.rawValue) params must be strings") }
                return text
            }
            try await self.authorize(method, kind: nil, unlocked: unlocked)
            let nip46Method = Nip46RequestHandler.Method(rawValue: method.rawValue)!
            let result = try Self.translating { try Nip46RequestHandler.cipher(nip46Method, params: texts, userKey: unlocked.userKey) }
            self.audit(method, kind: nil, eventID: nil, unlocked: unlocked, outcome: "ok")
            return .string(result)
        }
    }

    /// The policy engine's decision as an HTTP error: 403 forbidden, 429 with Retry-After, 401 when the
    /// authorization stopped being usable.
    private func authorize(_ method: Method, kind: UInt16?, unlocked: UnlockedAuthorization) async throws {
        let decision = try await self.custodian.authorize(unlocked, request: PolicyRequest(methodName: method.rawValue, kind: kind))
        let failure: APIError
        switch decision {
        case .allowed:
            return
        case .denied(let denial):
            failure = APIError(.forbidden, "forbidden", denial.description)
        case .rateLimited(let retryAfter):
            let seconds = max(1, retryAfter.components.seconds + (retryAfter.components.attoseconds > 0 ? 1 : 0))
            var limited = APIError(.tooManyRequests, "rate_limited", "too many requests; retry after \(seconds) s")
            limited.headers[.retryAfter] = String(seconds)
            failure = limited
        case .unusable:
            failure = APIError(.unauthorized, "unauthorized", "the authorization is revoked, expired or used up")
        }
        self.audit(method, kind: kind, eventID: nil, unlocked: unlocked, outcome: failure.code)
        throw failure
    }

    private func audit(_ method: Method, kind: UInt16?, eventID: String?, unlocked: UnlockedAuthorization, outcome: String) {
        let authorization = unlocked.authorization
        self.auditLog.record(
            AuditRecord(
                recordedAt: self.clock(), keyID: authorization.keyID, authorizationID: authorization.id, path: .http, method: method.rawValue,
                kind: kind.map(Int.init), eventID: eventID, outcome: outcome
            )
        )
    }

    /// Runs the shared NIP-46 method code, turning its `invalid:` errors into 400.
    private static func translating<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as Nip46Error {
            throw APIError.invalidParams(error.message)
        }
    }
}
