import NostrCrypto

/// The ten NIP-46 methods, after transport decryption: who may call what, then the operation itself. Every path
/// ends in a response; nothing here throws.
public struct Nip46RequestHandler: Sendable {
    /// The methods the signer implements, as spelled on the wire.
    public enum Method: String, Sendable, CaseIterable {
        case connect
        case getPublicKey = "get_public_key"
        case signEvent = "sign_event"
        case ping
        case nip04Encrypt = "nip04_encrypt"
        case nip04Decrypt = "nip04_decrypt"
        case nip44Encrypt = "nip44_encrypt"
        case nip44Decrypt = "nip44_decrypt"
        case switchRelays = "switch_relays"
        case logout

        /// Methods that use the user's key, and so go through the policy engine and the audit trail.
        var usesUserKey: Bool {
            switch self {
            case .getPublicKey, .signEvent, .nip04Encrypt, .nip04Decrypt, .nip44Encrypt, .nip44Decrypt: true
            case .connect, .ping, .switchRelays, .logout: false
            }
        }
    }

    /// How far `created_at` of an event to sign may lie in the future.
    public static let maximumFutureSkew: Int64 = 86_400

    let keys: any BunkerKeys
    let clock: @Sendable () -> Int64

    public init(keys: any BunkerKeys, clock: @escaping @Sendable () -> Int64) {
        self.keys = keys
        self.clock = clock
    }

    /// Answers one request from `client` to the authorization `session`, which arrived through `relay`.
    public func handle(_ request: Nip46Request, client: PublicKey, session: any BunkerSession, relay: String) async -> Nip46Response {
        guard let method = Method(rawValue: request.method) else {
            return .failure(Nip46Error(.unsupported, LogText.truncated(request.method, maximumCharacters: 64)), id: request.id)
        }
        do {
            let result = try await self.perform(method, request: request, client: client, session: session, relay: relay)
            return .result(result, id: request.id)
        } catch let error as Nip46Error {
            return .failure(error, id: request.id)
        } catch {
            // A store or KMS failure: say so without details (they may name internals), and keep serving.
            return .failure(Nip46Error(.error, "the signer could not complete the request; try again"), id: request.id)
        }
    }

    private func perform(_ method: Method, request: Nip46Request, client: PublicKey, session: any BunkerSession, relay: String) async throws -> String? {
        if method == .connect {
            return try await self.connect(request, client: client, session: session)
        }
        guard session.isPinnedClient(client) else {
            throw Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first")
        }
        var kind: UInt16?
        var unsigned: UnsignedEvent?
        if method == .signEvent {
            guard let json = request.params.first else { throw Nip46Error(.invalid, "sign_event needs the event as its first param") }
            let event = try Self.eventToSign(json: json, userKey: session.userKey, now: self.clock())
            kind = event.kind
            unsigned = event
        }
        if method.usesUserKey {
            do {
                try await self.authorize(method, kind: kind, session: session)
            } catch let error as Nip46Error {
                self.audit(method, kind: kind, eventID: nil, client: client, session: session, outcome: error.code.rawValue)
                throw error
            }
        }
        switch method {
        case .connect:
            return nil  // handled above
        case .ping:
            return "pong"
        case .getPublicKey:
            self.audit(method, kind: nil, eventID: nil, client: client, session: session, outcome: "ok")
            return session.userKey.publicKey.hex
        case .signEvent:
            let signed: Event
            do {
                signed = try unsigned!.signed(with: session.userKey)
            } catch {
                throw Nip46Error(.error, "signing failed")
            }
            self.audit(method, kind: kind, eventID: signed.id.hex, client: client, session: session, outcome: "ok")
            return signed.jsonString()
        case .nip04Encrypt, .nip04Decrypt, .nip44Encrypt, .nip44Decrypt:
            let result = try Self.cipher(method, params: request.params, userKey: session.userKey)
            self.audit(method, kind: nil, eventID: nil, client: client, session: session, outcome: "ok")
            return result
        case .switchRelays:
            // Answer the authorization's own relays only when the client is elsewhere; `null` means "stay".
            let relays = session.relays
            guard !relays.isEmpty, !relays.contains(relay) else { return nil }
            return JSONValue.array(relays.map { .string($0) }).serialized()
        case .logout:
            try await self.keys.logout(session, client: client)
            return "ack"
        }
    }

    /// `connect [remote-signer pubkey, secret?, perms?, metadata?]`. The pinned client may reconnect without the
    /// secret; anyone else needs the unused secret, and the first to present it is pinned. The requested
    /// permissions and metadata are display hints and decide nothing.
    private func connect(_ request: Nip46Request, client: PublicKey, session: any BunkerSession) async throws -> String {
        let secret = request.params.count > 1 ? request.params[1] : ""
        if session.isPinnedClient(client) {
            self.audit(.connect, kind: nil, eventID: nil, client: client, session: session, outcome: "ok")
            return "ack"
        }
        guard !secret.isEmpty else {
            self.audit(.connect, kind: nil, eventID: nil, client: client, session: session, outcome: Nip46Error.Code.unauthorized.rawValue)
            throw Nip46Error(.unauthorized, "connect needs the authorization's secret")
        }
        switch try await self.keys.connect(bunker: session.bunkerKey.publicKey, client: client, secret: secret) {
        case .pinned:
            self.audit(.connect, kind: nil, eventID: nil, client: client, session: session, outcome: "ok")
            return "ack"
        case .refused:
            self.audit(.connect, kind: nil, eventID: nil, client: client, session: session, outcome: Nip46Error.Code.unauthorized.rawValue)
            throw Nip46Error(.unauthorized, "the secret is wrong or was already used by another client")
        }
    }

    private func authorize(_ method: Method, kind: UInt16?, session: any BunkerSession) async throws {
        switch try await self.keys.authorize(session, method: method.rawValue, kind: kind) {
        case .allowed:
            return
        case .forbidden(let reason):
            throw Nip46Error(.forbidden, reason)
        case .rateLimited(let retryAfter):
            throw Nip46Error(.rateLimited, "too many requests; retry after \(Self.retryAfterSeconds(retryAfter)) s")
        case .unusable:
            throw Nip46Error(.unauthorized, "this authorization is revoked, expired or used up")
        }
    }

    /// Whole seconds to wait, rounded up and at least 1: what both request paths tell a rate-limited client.
    public static func retryAfterSeconds(_ wait: Duration) -> Int64 {
        max(1, wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0))
    }

    /// The event a client asks `userKey` to sign, from its JSON text; see ``eventToSign(_:userKey:now:)``.
    /// - Throws: ``Nip46Error`` with the code `invalid`.
    public static func eventToSign(json: String, userKey: SecretKey, now: Int64) throws -> UnsignedEvent {
        let event: UnsignedEvent
        do {
            event = try UnsignedEvent(json: Array(json.utf8))
        } catch {
            throw Nip46Error(.invalid, "the event is not valid: \(error)")
        }
        return try Self.eventToSign(event, userKey: userKey, now: now)
    }

    /// The event a client asks `userKey` to sign, checked: no other pubkey, `created_at` at most
    /// ``maximumFutureSkew`` ahead of `now`; the pubkey is filled in. Both request paths use it.
    /// - Throws: ``Nip46Error`` with the code `invalid`.
    public static func eventToSign(_ event: UnsignedEvent, userKey: SecretKey, now: Int64) throws -> UnsignedEvent {
        var event = event
        if let pubkey = event.pubkey, pubkey != userKey.publicKey {
            throw Nip46Error(.invalid, "the event's pubkey is not this signer's user key")
        }
        guard event.createdAt <= now.addingReportingOverflow(Self.maximumFutureSkew).partialValue else {
            throw Nip46Error(.invalid, "created_at is more than \(Self.maximumFutureSkew) s in the future")
        }
        event.pubkey = userKey.publicKey
        return event
    }

    /// `nip04_*` / `nip44_*` with `params` `[peer public key hex, text]`. Both request paths use it.
    /// - Throws: ``Nip46Error`` (`invalid` for bad params or a payload that does not decrypt).
    public static func cipher(_ method: Method, params: [String], userKey: SecretKey) throws -> String {
        guard params.count >= 2 else { throw Nip46Error(.invalid, "\(method.rawValue) needs a public key and a text") }
        guard let peer = try? PublicKey(hex: params[0]) else {
            throw Nip46Error(.invalid, "the first param must be a public key in hex")
        }
        do {
            switch method {
            case .nip04Encrypt: return try NIP04.encrypt(params[1], secretKey: userKey, publicKey: peer)
            case .nip04Decrypt: return try NIP04.decrypt(params[1], secretKey: userKey, publicKey: peer)
            case .nip44Encrypt: return try NIP44.encrypt(params[1], conversationKey: NIP44ConversationKey(secretKey: userKey, publicKey: peer))
            case .nip44Decrypt: return try NIP44.decrypt(params[1], conversationKey: NIP44ConversationKey(secretKey: userKey, publicKey: peer))
            default: throw Nip46Error(.error, "not a cipher method")
            }
        } catch let error as Nip46Error {
            throw error
        } catch {
            // NostrCryptoError texts name what failed (a bad MAC, a length) and never the content.
            throw Nip46Error(.invalid, "\(method.rawValue) failed: \(error)")
        }
    }

    private func audit(_ method: Method, kind: UInt16?, eventID: String?, client: PublicKey, session: any BunkerSession, outcome: String) {
        self.keys.audit(
            BunkerAuditEntry(
                keyID: session.keyID, authorizationID: session.authorizationID, method: method.rawValue, kind: kind, eventID: eventID,
                client: client, outcome: outcome
            )
        )
    }
}
