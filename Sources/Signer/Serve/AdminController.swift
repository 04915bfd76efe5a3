import Crypto
import Custody
import HTTPTypes
import Hummingbird
import Logging
import Nip46
import NostrCrypto

/// The operator's API under `/api/admin`, behind the admin bearer token: keys, authorizations (both connection
/// flows), revocation and the audit log. Secrets appear in exactly one response each: the connect secret and the
/// access token when an authorization is created.
struct AdminController: Sendable {
    let custodian: KeyCustodian
    let auditLog: AuditLog
    let adminToken: AdminToken
    let addressLimits: AddressLimits
    /// The signer's own key, which may not be deleted.
    let identity: SignerIdentity
    /// The daemon's relays: where bunker URLs point when an authorization names none of its own.
    let relays: [String]
    /// The NIP-46 service, for the client-initiated flow; nil when no relays are configured.
    let nip46: Nip46Service?
    let clock: @Sendable () -> Int64

    func addRoutes(to router: Router<SignerRequestContext>) {
        let admin = router.group("api/admin").add(middleware: AdminAuthenticationMiddleware(token: self.adminToken, limits: self.addressLimits))
        admin.post("keys") { request, context in try await self.createKey(request, context: context) }
        admin.get("keys") { _, _ in try await self.listKeys() }
        admin.get("keys/{id}") { _, context in try await self.key(id: context.parameters.require("id")) }
        admin.delete("keys/{id}") { _, context in try await self.deleteKey(id: context.parameters.require("id")) }
        admin.post("keys/{id}/authorizations") { request, context in
            try await self.createAuthorization(keyID: context.parameters.require("id"), request, context: context)
        }
        admin.post("keys/{id}/nostrconnect") { request, context in
            try await self.nostrConnect(keyID: context.parameters.require("id"), request, context: context)
        }
        admin.get("authorizations") { request, _ in try await self.listAuthorizations(keyID: request.uri.queryParameters["key_id"].map(String.init)) }
        admin.get("authorizations/{id}") { _, context in try await self.authorization(id: context.parameters.require("id")) }
        admin.delete("authorizations/{id}") { _, context in try await self.revoke(id: context.parameters.require("id")) }
        admin.get("audit") { request, _ in try await self.audit(request.uri.queryParameters) }
    }

    // MARK: Keys

    func createKey(_ request: Request, context: SignerRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context: context)
        let label = try JSONBody.optionalString(body, "label") ?? ""
        guard label.count <= 200 else { throw APIError.invalidParams("label must be at most 200 characters") }
        var imported: SecretKey?
        if let nsec = try JSONBody.optionalString(body, "nsec") {
            // Never echo the value: it is a secret key, or a mistyped one.
            if nsec.hasPrefix("nsec1") {
                guard case .secretKey(let key)? = try? NIP19.decode(nsec) else { throw APIError.invalidParams("nsec is not a valid nsec1 secret key") }
                imported = key
            } else {
                guard nsec.utf8.count == 64, let key = try? SecretKey(hex: nsec) else {
                    throw APIError.invalidParams("nsec must be an nsec1 key or 64 hex characters")
                }
                imported = key
            }
        }
        let record = try await Self.custody { try await self.custodian.createKey(label: label, importing: imported) }
        self.auditAdmin("create_key", keyID: record.id, authorizationID: nil)
        return JSONBody.response(Self.json(record), status: .created)
    }

    func listKeys() async throws -> Response {
        let keys = try await self.custodian.store.keys(includeDeleted: false)
        return JSONBody.response(.object(["keys": .array(keys.map(Self.json))]))
    }

    func key(id: String) async throws -> Response {
        guard let key = try await self.custodian.store.key(id: id), key.deletedAt == nil else { throw APIError.notFound("key \(Self.idText(id)) does not exist") }
        return JSONBody.response(Self.json(key))
    }

    func deleteKey(id: String) async throws -> Response {
        guard id != self.identity.keyID else {
            throw APIError(.conflict, "signer_identity", "this key is the signer's own identity (NIP-05 names._) and cannot be deleted")
        }
        try await Self.custody { try await self.custodian.deleteKey(id: id) }
        self.auditAdmin("delete_key", keyID: id, authorizationID: nil)
        return Response(status: .noContent)
    }

    // MARK: Authorizations

    func createAuthorization(keyID: String, _ request: Request, context: SignerRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context: context)
        guard let name = try JSONBody.optionalString(body, "name"), !name.isEmpty, name.count <= 200 else {
            throw APIError.invalidParams("name is required (1 to 200 characters)")
        }
        let policy = try Self.policy(body["policy"])
        let relays = try Self.relays(body["relays"])
        let expiresAt = try JSONBody.optionalInteger(body, "expires_at")
        if let expiresAt, expiresAt <= self.clock() { throw APIError.invalidParams("expires_at must be in the future") }
        let maxUses = try JSONBody.optionalInteger(body, "max_uses")
        let created = try await Self.custody {
            try await self.custodian.createAuthorization(keyID: keyID, name: name, policy: policy, relays: relays, expiresAt: expiresAt, maxUses: maxUses)
        }
        if !relays.isEmpty { await self.nip46?.listen(on: relays, for: [created.record.bunkerPublicKey]) }
        self.auditAdmin("create_authorization", keyID: keyID, authorizationID: created.record.id)
        var object = Self.json(created.record)
        let bunkerRelays = relays.isEmpty ? self.relays : relays
        object["bunker_url"] = .string(BunkerURI(bunkerPublicKey: created.record.bunkerPublicKey, relays: bunkerRelays, secret: created.connectSecret).description)
        object["secret"] = .string(created.connectSecret)
        object["access_token"] = .string(created.accessToken)
        return JSONBody.response(.object(object), status: .created)
    }

    /// The client-initiated flow: the app shows a `nostrconnect://` URI; this creates an authorization pinned to the
    /// app's key, listens on the URI's relays, and sends the connect response carrying the URI's secret.
    func nostrConnect(keyID: String, _ request: Request, context: SignerRequestContext) async throws -> Response {
        guard let nip46 = self.nip46 else {
            throw APIError(.conflict, "nip46_disabled", "NIP-46 is off on this signer (SIGNER_RELAYS is empty)")
        }
        let body = try await JSONBody.object(request, context: context)
        guard let text = try JSONBody.optionalString(body, "uri") else { throw APIError.invalidParams("uri is required") }
        let uri: NostrConnectURI
        do {
            uri = try NostrConnectURI(text)
        } catch {
            throw APIError.invalidParams("uri: \(error.description)")
        }
        let policy = try Self.policy(body["policy"])
        let created = try await Self.custody {
            try await self.custodian.createAuthorization(
                keyID: keyID, name: uri.name ?? "nostrconnect", policy: policy, relays: uri.relays, pinnedClient: uri.clientPublicKey
            )
        }
        self.auditAdmin("create_authorization", keyID: keyID, authorizationID: created.record.id)
        guard let unlocked = try await self.custodian.unlock(bunkerPublicKey: created.record.bunkerPublicKey) else { throw APIError.internalError }
        let delivered = await nip46.acceptNostrConnect(uri, session: CustodySession(unlocked: unlocked))
        var object = Self.json(created.record)
        object["access_token"] = .string(created.accessToken)
        object["connect_response_published"] = .bool(delivered)
        return JSONBody.response(.object(object), status: .created)
    }

    func listAuthorizations(keyID: String?) async throws -> Response {
        let authorizations = try await self.custodian.store.authorizations(keyID: keyID)
        return JSONBody.response(.object(["authorizations": .array(authorizations.map { .object(Self.json($0)) })]))
    }

    func authorization(id: String) async throws -> Response {
        guard let authorization = try await self.custodian.store.authorization(id: id) else {
            throw APIError.notFound("authorization \(Self.idText(id)) does not exist")
        }
        return JSONBody.response(.object(Self.json(authorization)))
    }

    func revoke(id: String) async throws -> Response {
        guard let authorization = try await self.custodian.store.authorization(id: id) else {
            throw APIError.notFound("authorization \(Self.idText(id)) does not exist")
        }
        try await Self.custody { try await self.custodian.revokeAuthorization(id: id) }
        self.auditAdmin("revoke_authorization", keyID: authorization.keyID, authorizationID: id)
        return Response(status: .noContent)
    }

    // MARK: Audit

    func audit(_ query: Parameters) async throws -> Response {
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), (1...1000).contains(value) else { throw APIError.invalidParams("limit must be from 1 to 1000") }
            limit = value
        }
        let records = try await self.custodian.store.audit(
            keyID: query["key_id"].map(String.init), authorizationID: query["authorization_id"].map(String.init), limit: limit
        )
        let entries: [JSONValue] = records.map { record in
            var object: [String: JSONValue] = [
                "recorded_at": JSONBody.number(record.recordedAt), "key_id": .string(record.keyID), "path": .string(record.path.rawValue),
                "method": .string(record.method), "outcome": .string(record.outcome),
            ]
            if let sequence = record.sequence { object["sequence"] = JSONBody.number(sequence) }
            if let id = record.authorizationID { object["authorization_id"] = .string(id) }
            if let kind = record.kind { object["kind"] = JSONBody.number(kind) }
            if let eventID = record.eventID { object["event_id"] = .string(eventID) }
            if let client = record.clientPublicKey { object["client_pubkey"] = .string(client) }
            return .object(object)
        }
        return JSONBody.response(.object(["entries": .array(entries)]))
    }

    // MARK: Helpers

    private func auditAdmin(_ action: String, keyID: String, authorizationID: String?) {
        self.auditLog.record(AuditRecord(recordedAt: self.clock(), keyID: keyID, authorizationID: authorizationID, path: .admin, method: action, outcome: "ok"))
    }

    /// Custody's own errors as HTTP: not found → 404, bad input → 400, a conflict (the key is already held) → 409;
    /// anything else propagates (503 when the store or KMS is unreachable, otherwise 500, logged).
    static func custody<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CustodyError where error.code == .notFound {
            throw APIError.notFound(error.description)
        } catch let error as CustodyError where error.code == .invalidInput {
            throw APIError.invalidParams(error.description)
        } catch let error as CustodyError where error.code == .conflict {
            throw APIError(.conflict, "conflict", error.description)
        }
    }

    static func policy(_ value: JSONValue?) throws -> Policy {
        guard let value, value != .null else { throw APIError.invalidParams("policy is required: a built-in name or a custom policy object") }
        guard value.stringValue != nil || value.objectValue != nil else {
            throw APIError.invalidParams("policy must be a built-in name or a custom policy object")
        }
        do {
            return try Policy(stored: value.serialized())
        } catch {
            throw APIError.invalidParams("policy: \(error)")
        }
    }

    static func relays(_ value: JSONValue?) throws -> [String] {
        guard let value, value != .null else { return [] }
        guard let array = value.arrayValue, array.count <= 16 else { throw APIError.invalidParams("relays must be an array of at most 16 URLs") }
        return try array.map { item in
            guard let text = item.stringValue, text.hasPrefix("wss://") || text.hasPrefix("ws://"), text.utf8.count <= 512 else {
                throw APIError.invalidParams("relays must be ws:// or wss:// URLs")
            }
            return text
        }
    }

    static func idText(_ id: String) -> String { LogText.truncated(id, maximumCharacters: 64) }

    static func json(_ key: KeyRecord) -> JSONValue {
        .object([
            "id": .string(key.id), "pubkey": .string(key.publicKey.hex), "npub": .string(key.publicKey.npub),
            "label": .string(key.label), "created_at": JSONBody.number(key.createdAt),
        ])
    }

    static func json(_ authorization: AuthorizationRecord) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "id": .string(authorization.id), "key_id": .string(authorization.keyID), "name": .string(authorization.name),
            "bunker_pubkey": .string(authorization.bunkerPublicKey.hex),
            "policy": (try? JSONValue.parse(authorization.policy)) ?? .null,
            "relays": .array(authorization.relays.map { .string($0) }), "uses": JSONBody.number(authorization.uses),
            "created_at": JSONBody.number(authorization.createdAt), "expires_at": authorization.expiresAt.map { JSONBody.number($0) } ?? .null,
            "max_uses": authorization.maxUses.map { JSONBody.number($0) } ?? .null,
            "revoked_at": authorization.revokedAt.map { JSONBody.number($0) } ?? .null,
            "client_pubkey": authorization.clientPublicKey.map { .string($0.hex) } ?? .null,
        ]
        object["connected"] = .bool(authorization.clientPublicKey != nil)
        return object
    }
}

/// Checks the admin bearer token in constant time (SHA-256 of the presented token against the stored hash), after
/// the per-address limits on admin requests and on failed authentications.
struct AdminAuthenticationMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext
    let token: AdminToken
    let limits: AddressLimits

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try self.limits.checkAuthenticationAllowed(context.clientAddress)
        try self.limits.takeAdminRequest(context.clientAddress)
        guard let presented = request.bearerToken, self.token.matches(presented) else {
            self.limits.authenticationFailed(context.clientAddress)
            context.logger.notice("admin request refused: missing or wrong token")
            throw APIError(.unauthorized, "unauthorized", "the admin API needs the admin bearer token")
        }
        return try await next(request, context)
    }
}
