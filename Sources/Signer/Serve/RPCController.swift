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
    /// Shared with NIP-46: the crypto runs there, and a full queue answers 503 `busy`.
    let signingPool: SigningPool
    let addressLimits: AddressLimits
    let clock: @Sendable () -> Int64

    typealias Method = Nip46RequestHandler.Method

    /// The NIP-46 methods that make sense without a relay session (no connect, switch_relays or logout).
    static let methods: Set<Method> = [.getPublicKey, .signEvent, .ping, .nip04Encrypt, .nip04Decrypt, .nip44Encrypt, .nip44Decrypt]

    func handle(_ request: Request, context: SignerRequestContext) async throws -> Response {
        // The token first: an unauthenticated caller learns nothing about methods or parameters.
        try self.addressLimits.checkAuthenticationAllowed(context.clientAddress)
        guard let token = request.bearerToken, let unlocked = try await self.custodian.unlock(accessToken: token) else {
            self.addressLimits.authenticationFailed(context.clientAddress)
            throw APIError(.unauthorized, "unauthorized", "the access token is unknown, revoked, expired or used up")
        }
        let body = try await JSONBody.object(request, context: context)
        guard let methodName = body["method"]?.stringValue else { throw APIError.invalidParams("method must be a string") }
        guard let method = Method(rawValue: methodName), Self.methods.contains(method) else {
            throw APIError(.badRequest, "unsupported_method", "unsupported method \"\(LogText.truncated(methodName, maximumCharacters: 64))\"")
        }
        let params = body["params"]?.arrayValue ?? []
        if body["params"] != nil, body["params"] != .null, body["params"]?.arrayValue == nil {
            throw APIError.invalidParams("params must be an array")
        }
        let result = try await self.perform(method, params: params, unlocked: unlocked)
        return JSONBody.response(resultJSON: result)
    }

    /// The method's result as JSON text (a signed event is written once, by its own serializer).
    private func perform(_ method: Method, params: [JSONValue], unlocked: UnlockedAuthorization) async throws -> String {
        switch method {
        case .ping:
            return JSONValue.string("pong").serialized()
        case .getPublicKey:
            try await self.authorize(method, kind: nil, unlocked: unlocked)
            self.audit(method, kind: nil, eventID: nil, unlocked: unlocked, outcome: "ok")
            return JSONValue.string(unlocked.userKey.publicKey.hex).serialized()
        case .signEvent:
            let unsigned: UnsignedEvent
            switch params.first {
            case .object(let object)?:
                // Already parsed with the body (which is bounded like an event's JSON), so not parsed again.
                let event: UnsignedEvent
                do {
                    event = try UnsignedEvent(object: object)
                } catch {
                    throw APIError.invalidParams("the event is not valid: \(error)")
                }
                unsigned = try Self.translating { try Nip46RequestHandler.eventToSign(event, userKey: unlocked.userKey, now: self.clock()) }
            case .string(let json)?:
                unsigned = try Self.translating { try Nip46RequestHandler.eventToSign(json: json, userKey: unlocked.userKey, now: self.clock()) }
            default:
                throw APIError.invalidParams("sign_event needs the event, as an object or a JSON string, as its first param")
            }
            try await self.authorize(method, kind: unsigned.kind, unlocked: unlocked)
            let userKey = unlocked.userKey
            let signed = try await self.onSigningPool { try unsigned.signed(with: userKey) }
            self.audit(method, kind: unsigned.kind, eventID: signed.id.hex, unlocked: unlocked, outcome: "ok")
            return signed.jsonString()
        default:
            // The four cipher methods (`methods` admits nothing else).
            let texts = try params.map { value -> String in
                guard let text = value.stringValue else { throw APIError.invalidParams("\(method.rawValue) params must be strings") }
                return text
            }
            try await self.authorize(method, kind: nil, unlocked: unlocked)
            let userKey = unlocked.userKey
            let result = try await self.onSigningPool { try Self.translating { try Nip46RequestHandler.cipher(method, params: texts, userKey: userKey) } }
            self.audit(method, kind: nil, eventID: nil, unlocked: unlocked, outcome: "ok")
            return JSONValue.string(result).serialized()
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
            failure = APIError.rateLimited(retryAfter, "too many requests")
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

    /// Runs `body` on the shared signing pool; a full queue is 503 `busy`, worth retrying after a second.
    private func onSigningPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await self.signingPool.perform(body)
        } catch is SigningPool.Busy {
            var busy = APIError(.serviceUnavailable, "busy", "the signer is overloaded; retry in a moment")
            busy.headers[.retryAfter] = "1"
            throw busy
        }
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
