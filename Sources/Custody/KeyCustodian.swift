import Crypto
import Foundation
import NostrCrypto
import Synchronization

/// The outcome of ``KeyCustodian/authorize(_:request:)``.
public enum AuthorizationDecision: Sendable, Hashable {
    case allowed
    /// The policy refuses this request.
    case denied(PolicyDenial)
    /// Over a per-minute or per-day limit.
    case rateLimited(retryAfter: Duration)
    /// Revoked, expired or out of uses since it was unlocked.
    case unusable
}

/// A new authorization as its creator sees it once: the connect secret and the access token exist in the clear only
/// in this value; the store keeps their SHA-256.
public struct NewAuthorization: Sendable {
    public let record: AuthorizationRecord
    public let connectSecret: String
    public let accessToken: String
}

/// A change to one authorization that other instances sharing the store must apply to their caches (the daemon
/// sends it over the cluster broadcast; ``KeyCustodian/apply(_:)`` applies one received).
public struct AuthorizationChange: Sendable, Hashable {
    public let authorizationID: String
    /// The revision after the change: cached copies below it are stale. `nil`: every cached copy is.
    public let revision: Int64?
    public let bunkerPublicKey: PublicKey
    /// Whether the bunker still answers (false once revoked or its key deleted).
    public let isActive: Bool

    public init(authorizationID: String, revision: Int64?, bunkerPublicKey: PublicKey, isActive: Bool) {
        self.authorizationID = authorizationID
        self.revision = revision
        self.bunkerPublicKey = bunkerPublicKey
        self.isActive = isActive
    }
}

/// The operations both request paths and the admin API perform on custody, in one place: keys are sealed before
/// they are stored, secrets and tokens are hashed, unlocking goes through the cache, and every change that an
/// unlocked copy could outlive invalidates it.
public final class KeyCustodian: Sendable {
    public let store: any CustodyStore
    public let keks: KEKRing
    public let cache: DecryptedKeyCache
    public let rateLimiter: RateLimiter
    /// Bunker keys of active authorizations; call ``loadActiveBunkers()`` once at start-up.
    public let activeBunkers = ActiveBunkers()
    private let clock: @Sendable () -> Int64
    private let changeObserver = Mutex<(@Sendable (AuthorizationChange) -> Void)?>(nil)

    /// Access tokens carry a fixed prefix so secret scanners can recognise a leaked one.
    public static let accessTokenPrefix = "nsat_"

    public init(
        store: any CustodyStore,
        keks: KEKRing,
        cache: DecryptedKeyCache,
        rateLimiter: RateLimiter = RateLimiter(),
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.keks = keks
        self.cache = cache
        self.rateLimiter = rateLimiter
        self.clock = clock
    }

    // MARK: Changes other instances must see

    /// Calls `observer` with every change this custodian makes to an authorization, in order.
    public func observeChanges(_ observer: @escaping @Sendable (AuthorizationChange) -> Void) {
        self.changeObserver.withLock { $0 = observer }
    }

    private func changed(_ change: AuthorizationChange) {
        self.changeObserver.withLock { $0 }?(change)
    }

    /// Applies a change another instance made: drops stale cached copies, and updates the known-bunker set.
    public func apply(_ change: AuthorizationChange) {
        self.cache.invalidate(authorizationID: change.authorizationID, belowRevision: change.revision)
        if change.isActive {
            self.activeBunkers.insert(change.bunkerPublicKey)
            self.cache.forgetMiss(for: CacheKey(bunker: change.bunkerPublicKey))
        } else {
            self.activeBunkers.remove(change.bunkerPublicKey)
            self.rateLimiter.reset(key: CompactID(change.authorizationID))
        }
    }

    /// After changes may have been missed (a gap in the cluster broadcast): drops every cached key and reloads the
    /// known-bunker set from the store.
    public func resynchronize() async throws {
        self.cache.invalidateAll()
        try await self.loadActiveBunkers()
    }

    // MARK: Keys

    /// Seals and stores a key: `importing` an existing secret, or a new one from the CSPRNG.
    public func createKey(label: String, importing secret: SecretKey? = nil) async throws -> KeyRecord {
        let record = try await self.sealNewKey(label: label, importing: secret)
        try await self.store.insertKey(record)
        return record
    }

    /// A key sealed under the current KEK, not yet stored (``createKey(label:importing:)`` stores it; bulk seeding
    /// stores many at once with ``CustodyStore/insertBatch(keys:authorizations:)``).
    public func sealNewKey(label: String, importing secret: SecretKey? = nil) async throws -> KeyRecord {
        let secret = secret ?? SecretKey.generate()
        let id = Self.newID()
        let sealed = try await Envelope.seal(secret, binding: SecretBinding(purpose: .userKey, rowID: id, publicKey: secret.publicKey), kek: self.keks.current)
        return KeyRecord(id: id, publicKey: secret.publicKey, sealedSecret: sealed, label: label, createdAt: self.clock())
    }

    /// Crypto-shreds a key and revokes its authorizations, dropping every unlocked copy.
    public func deleteKey(id: String) async throws {
        let authorizations = try await self.store.authorizations(keyID: id)
        guard try await self.store.deleteKey(id: id, at: self.clock()) else {
            throw CustodyError(.notFound, "key \(id) does not exist or is already deleted")
        }
        for authorization in authorizations {
            self.cache.invalidate(authorizationID: authorization.id)
            self.activeBunkers.remove(authorization.bunkerPublicKey)
            if authorization.revokedAt == nil {
                self.changed(AuthorizationChange(authorizationID: authorization.id, revision: nil, bunkerPublicKey: authorization.bunkerPublicKey, isActive: false))
            }
        }
    }

    /// Reads every active bunker key from the store into ``activeBunkers``.
    public func loadActiveBunkers() async throws {
        try await self.activeBunkers.load(from: self.store)
    }

    // MARK: Authorizations

    /// Creates an authorization with its own random bunker key, a single-use connect secret and an access token.
    /// With `pinnedClient` (the client-initiated nostrconnect flow, where the app is known up front) the client is
    /// pinned from the start and the connect secret is burned at birth.
    public func createAuthorization(
        keyID: String, name: String, policy: Policy, relays: [String], expiresAt: Int64? = nil, maxUses: Int64? = nil,
        pinnedClient: PublicKey? = nil
    ) async throws -> NewAuthorization {
        guard let key = try await self.store.key(id: keyID), key.deletedAt == nil else {
            throw CustodyError(.notFound, "key \(keyID) does not exist")
        }
        let created = try await self.sealNewAuthorization(
            keyID: key.id, name: name, policy: policy, relays: relays, expiresAt: expiresAt, maxUses: maxUses, pinnedClient: pinnedClient
        )
        let record = created.record
        try await self.store.insertAuthorization(record)
        self.activeBunkers.insert(record.bunkerPublicKey)
        self.cache.forgetMiss(for: CacheKey(bunker: record.bunkerPublicKey))
        self.cache.forgetMiss(for: CacheKey(tokenHash: record.accessTokenHash))
        self.changed(AuthorizationChange(authorizationID: record.id, revision: record.revision, bunkerPublicKey: record.bunkerPublicKey, isActive: true))
        return created
    }

    /// An authorization for `keyID` with its bunker key sealed, not yet stored and not checked against the store
    /// (``createAuthorization(keyID:name:policy:relays:expiresAt:maxUses:pinnedClient:)`` does both).
    public func sealNewAuthorization(
        keyID: String, name: String, policy: Policy, relays: [String], expiresAt: Int64? = nil, maxUses: Int64? = nil,
        pinnedClient: PublicKey? = nil
    ) async throws -> NewAuthorization {
        if let maxUses, maxUses <= 0 { throw CustodyError(.invalidInput, "max_uses must be positive") }
        let bunker = SecretKey.generate()
        let id = Self.newID()
        let sealed = try await Envelope.seal(bunker, binding: SecretBinding(purpose: .bunkerKey, rowID: id, publicKey: bunker.publicKey), kek: self.keks.current)
        let connectSecret = Hex.encode(SystemRandom.bytes(count: 32))
        let accessToken = Self.accessTokenPrefix + Hex.encode(SystemRandom.bytes(count: 32))
        let record = AuthorizationRecord(
            id: id, keyID: keyID, name: name, bunkerPublicKey: bunker.publicKey, bunkerSealedSecret: sealed,
            secretHash: pinnedClient == nil ? Self.hash(connectSecret) : nil, clientPublicKey: pinnedClient, policy: policy.storedForm, relays: relays, expiresAt: expiresAt,
            maxUses: maxUses, uses: 0, accessTokenHash: Self.hash(accessToken), createdAt: self.clock(), revokedAt: nil, revision: 1
        )
        return NewAuthorization(record: record, connectSecret: connectSecret, accessToken: accessToken)
    }

    /// Revokes at once: the store first, then every unlocked copy in this process.
    public func revokeAuthorization(id: String) async throws {
        guard try await self.store.revokeAuthorization(id: id, at: self.clock()) else {
            throw CustodyError(.notFound, "authorization \(id) does not exist or is already revoked")
        }
        let revoked = try await self.store.authorization(id: id)
        if let revoked { self.activeBunkers.remove(revoked.bunkerPublicKey) }
        self.cache.invalidate(authorizationID: id)
        self.rateLimiter.reset(key: CompactID(id))
        if let revoked {
            self.changed(AuthorizationChange(authorizationID: id, revision: revoked.revision, bunkerPublicKey: revoked.bunkerPublicKey, isActive: false))
        }
    }

    /// Decides one request with the one policy engine, for every path and method: usability, the policy, its rate
    /// limits, then (only when a use limit applies) counting the use in the store, atomically against the limit.
    public func authorize(_ unlocked: UnlockedAuthorization, request: PolicyRequest) async throws -> AuthorizationDecision {
        let now = self.clock()
        let authorization = unlocked.authorization
        guard authorization.isUsable(now: now) else { return .unusable }
        if case .deny(let denial) = PolicyEngine.evaluate(unlocked.policy, request: request, usesSoFar: authorization.uses, now: now) {
            return .denied(denial)
        }
        let limits = RateLimiter.Limits(perMinute: unlocked.policy.perMinute, perDay: unlocked.policy.perDay)
        if case .limited(let retryAfter) = self.rateLimiter.acquire(key: authorization.compactID, limits: limits) {
            return .rateLimited(retryAfter: retryAfter)
        }
        if authorization.maxUses != nil || unlocked.policy.maxUses != nil {
            guard case .counted(let uses) = try await self.store.recordUse(authorizationID: authorization.id, now: now) else {
                self.cache.invalidate(authorizationID: authorization.id)
                return .unusable
            }
            if let policyLimit = unlocked.policy.maxUses, uses > policyLimit {
                return .denied(PolicyDenial(code: .exhausted, description: "policy \"\(unlocked.policy.name)\" allows \(policyLimit) uses and all are spent"))
            }
            // The cached copy's use count is now stale; reload it next time.
            self.cache.invalidate(authorizationID: authorization.id)
        }
        return .allowed
    }

    /// NIP-46 `connect`: pins `client` if `secret` is the authorization's unused connect secret.
    public func connect(bunkerPublicKey: PublicKey, client: PublicKey, secret: String) async throws -> PinOutcome {
        guard let authorization = try await self.store.authorization(bunkerPublicKey: bunkerPublicKey.hex) else { return .refused }
        let outcome = try await self.store.pinClient(
            authorizationID: authorization.id, clientPublicKey: client.hex, secretHash: Self.hash(secret), now: self.clock()
        )
        if case .pinned(let revision) = outcome {
            self.cache.invalidate(authorizationID: authorization.id, belowRevision: revision)
            self.changed(AuthorizationChange(authorizationID: authorization.id, revision: revision, bunkerPublicKey: bunkerPublicKey, isActive: true))
        }
        return outcome
    }

    /// NIP-46 `logout`: forgets the pinned client.
    public func logout(authorizationID: String, client: PublicKey) async throws -> Bool {
        let forgotten = try await self.store.unpinClient(authorizationID: authorizationID, clientPublicKey: client.hex)
        if forgotten {
            self.cache.invalidate(authorizationID: authorizationID)
            if let authorization = try await self.store.authorization(id: authorizationID) {
                self.changed(
                    AuthorizationChange(authorizationID: authorizationID, revision: authorization.revision, bunkerPublicKey: authorization.bunkerPublicKey, isActive: true)
                )
            }
        }
        return forgotten
    }

    // MARK: Unlocking

    /// The unlocked authorization behind a bunker public key, or `nil` if there is none that is usable now.
    public func unlock(bunkerPublicKey: PublicKey) async throws -> UnlockedAuthorization? {
        let unlocked = try await self.cache.value(for: CacheKey(bunker: bunkerPublicKey)) { [store, keks] in
            guard let authorization = try await store.authorization(bunkerPublicKey: bunkerPublicKey.hex) else { return nil }
            return try await Self.unlock(authorization, store: store, keks: keks)
        }
        return unlocked.flatMap { $0.authorization.isUsable(now: self.clock()) ? $0 : nil }
    }

    /// The unlocked authorization an HTTP access token belongs to, or `nil` (unknown, revoked, expired, exhausted).
    public func unlock(accessToken: String) async throws -> UnlockedAuthorization? {
        let hash = Self.hash(accessToken)
        let unlocked = try await self.cache.value(for: CacheKey(tokenHash: hash)) { [store, keks] in
            guard let authorization = try await store.authorization(accessTokenHash: hash) else { return nil }
            return try await Self.unlock(authorization, store: store, keks: keks)
        }
        // The lookup found the row by hash; compare again in constant time before trusting it.
        guard let unlocked, unlocked.authorization.accessTokenHash.matches(InlineDigest(hash)) else { return nil }
        return unlocked.authorization.isUsable(now: self.clock()) ? unlocked : nil
    }

    private static func unlock(_ authorization: AuthorizationRecord, store: any CustodyStore, keks: KEKRing) async throws -> UnlockedAuthorization? {
        guard authorization.revokedAt == nil, let bunkerSealed = authorization.bunkerSealedSecret,
            let key = try await store.key(id: authorization.keyID), let keySealed = key.sealedSecret
        else { return nil }
        let userKey = try await Envelope.open(keySealed, binding: key.binding, keks: keks)
        let bunkerKey = try await Envelope.open(bunkerSealed, binding: authorization.bunkerBinding, keks: keks)
        return UnlockedAuthorization(authorization: authorization, userKey: userKey, bunkerKey: bunkerKey)
    }

    // MARK: Helpers

    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    static func newID() -> String { UUID().uuidString.lowercased() }
}
