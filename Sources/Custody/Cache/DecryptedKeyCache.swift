import CoreMetrics
import NostrCrypto
import Synchronization

/// What the signing paths need for one authorization, decrypted once: the grant, the user's key, the bunker key.
///
/// A class, immutable, so the cache holds it by reference without a separate box.
public final class UnlockedAuthorization: Sendable {
    /// What requests need from the authorization row: a slim copy, so a cached entry stays small.
    public let authorization: AuthorizationGrant
    public let userKey: SecretKey
    public let bunkerKey: SecretKey
    private let sharedPolicy: SharedPolicy

    /// The authorization's policy, parsed once. A stored policy that does not parse becomes ``Policy/denyAll``.
    public var policy: Policy { self.sharedPolicy.policy }

    public init(authorization: AuthorizationRecord, userKey: SecretKey, bunkerKey: SecretKey) {
        self.authorization = AuthorizationGrant(authorization)
        self.userKey = userKey
        self.bunkerKey = bunkerKey
        self.sharedPolicy = SharedPolicy.forStored(authorization.policy)
    }
}

/// A parsed policy held by reference: every authorization on a built-in policy shares one instance, so a cached
/// entry spends a pointer on it instead of a hundred-odd bytes.
final class SharedPolicy: Sendable {
    let policy: Policy

    private init(_ policy: Policy) { self.policy = policy }

    private static let builtIns: [String: SharedPolicy] = Dictionary(
        uniqueKeysWithValues: Policy.builtIns.map { (JSONValue.string($0.name).serialized(), SharedPolicy($0)) }
    )

    convenience init(stored text: String) {
        self.init((try? Policy(stored: text)) ?? .denyAll)
    }

    static func forStored(_ text: String) -> SharedPolicy {
        Self.builtIns[text] ?? SharedPolicy(stored: text)
    }
}

/// The fields of an ``AuthorizationRecord`` that signing decisions read. It leaves out what only the admin API or
/// the store needs (name, envelope, connect-secret hash, creation time, the policy's JSON), leaves the bunker public
/// key to the unlocked bunker key, and holds the client key and token hash as inline bytes: its ids are held as
/// ``CompactID``s. Together that takes a cached entry from about 1.5 KB to under 1 KiB.
public struct AuthorizationGrant: Sendable, Hashable {
    /// The authorization's id, inline (a UUID string would be a separate heap allocation per entry).
    public let compactID: CompactID
    /// The key's id, inline.
    public let compactKeyID: CompactID
    public let relays: [String]
    public let expiresAt: Int64?
    public let maxUses: Int64?
    public let uses: Int64
    public let revokedAt: Int64?
    public let revision: Int64
    private let pinnedClient: InlineDigest?
    let accessTokenHash: InlineDigest

    public init(_ record: AuthorizationRecord) {
        self.compactID = CompactID(record.id)
        self.compactKeyID = CompactID(record.keyID)
        self.relays = record.relays
        self.expiresAt = record.expiresAt
        self.maxUses = record.maxUses
        self.uses = record.uses
        self.revokedAt = record.revokedAt
        self.revision = record.revision
        self.pinnedClient = record.clientPublicKey.map { InlineDigest($0.bytes) }
        self.accessTokenHash = InlineDigest(record.accessTokenHash)
    }

    /// The authorization's id as stored.
    public var id: String { self.compactID.description }

    /// The key's id as stored.
    public var keyID: String { self.compactKeyID.description }

    /// Whether any client has connected (and is pinned).
    public var hasPinnedClient: Bool { self.pinnedClient != nil }

    /// Whether `client` is the pinned client.
    public func isPinnedClient(_ client: PublicKey) -> Bool {
        self.pinnedClient?.matches(InlineDigest(client.bytes)) ?? false
    }

    /// The pinned client's public key (parsed on each call; use ``isPinnedClient(_:)`` on request paths).
    public var clientPublicKey: PublicKey? {
        self.pinnedClient.flatMap { try? PublicKey(bytes: $0.bytes) }
    }

    /// Whether the authorization may be used at `now`: not revoked, not expired, not out of uses.
    public func isUsable(now: Int64) -> Bool {
        guard self.revokedAt == nil else { return false }
        if let expiresAt, now >= expiresAt { return false }
        if let maxUses, self.uses >= maxUses { return false }
        return true
    }
}

/// 32 bytes (a digest, a public key) held inline, no heap allocation, compared in constant time.
struct InlineDigest: Sendable, Hashable {
    private let words: (UInt64, UInt64, UInt64, UInt64)
    /// False when built from a value that is not 32 bytes (a damaged row): it then matches nothing.
    private let valid: Bool

    init(_ bytes: [UInt8]) {
        guard bytes.count == 32 else {
            self.words = (0, 0, 0, 0)
            self.valid = false
            return
        }
        func word(_ offset: Int) -> UInt64 {
            bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
        }
        self.words = (word(0), word(8), word(16), word(24))
        self.valid = true
    }

    var bytes: [UInt8] {
        [self.words.0, self.words.1, self.words.2, self.words.3].flatMap { word in
            (0..<8).map { UInt8(truncatingIfNeeded: word >> (56 - 8 * $0)) }
        }
    }

    /// Constant-time: every word is compared whatever the earlier ones held.
    func matches(_ other: InlineDigest) -> Bool {
        let difference = (self.words.0 ^ other.words.0) | (self.words.1 ^ other.words.1) | (self.words.2 ^ other.words.2)
            | (self.words.3 ^ other.words.3)
        return difference == 0 && self.valid && other.valid
    }

    static func == (lhs: InlineDigest, rhs: InlineDigest) -> Bool { lhs.matches(rhs) }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }
}

/// How the cache is looked up: a bunker public key (NIP-46) or the SHA-256 of an access token (HTTP). Fixed-size
/// and inline, so a cached entry costs no heap allocation for its key, and a token is never held in the clear.
public struct CacheKey: Hashable, Sendable {
    private enum Kind: UInt8, Hashable, Sendable {
        case bunker
        case tokenHash
    }

    private let kind: Kind
    private let words: (UInt64, UInt64, UInt64, UInt64)

    private init(kind: Kind, bytes: some Collection<UInt8>) {
        precondition(bytes.count == 32, "cache keys are built from 32 bytes")
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() {
            words[index / 8] = words[index / 8] << 8 | UInt64(byte)
        }
        self.kind = kind
        self.words = (words[0], words[1], words[2], words[3])
    }

    /// The key for NIP-46 requests addressed to `bunker`.
    public init(bunker: PublicKey) { self.init(kind: .bunker, bytes: bunker.bytes) }

    /// The key for HTTP requests bearing a token whose SHA-256 is `tokenHash`.
    public init(tokenHash: [UInt8]) { self.init(kind: .tokenHash, bytes: tokenHash) }

    public static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
        lhs.kind == rhs.kind && lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.kind)
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }
}

/// Bounds of the decrypted-key cache.
public struct DecryptedKeyCacheConfiguration: Sendable, Hashable {
    /// The most unlocked authorizations held at once; the least recently used goes first.
    public var maximumEntries: Int
    /// An entry unused this long is dropped (and its keys wiped).
    public var idleTimeout: Duration
    /// The most remembered misses (lookups that found no usable authorization).
    public var maximumNegativeEntries: Int
    /// How long a miss is remembered. Short, because a new authorization also clears its own negative entry.
    public var negativeTimeToLive: Duration

    public init(
        maximumEntries: Int = 100_000,
        idleTimeout: Duration = .seconds(3600),
        maximumNegativeEntries: Int = 100_000,
        negativeTimeToLive: Duration = .seconds(30)
    ) {
        precondition(maximumEntries > 0 && maximumNegativeEntries > 0, "cache bounds must be positive")
        self.maximumEntries = maximumEntries
        self.idleTimeout = idleTimeout
        self.maximumNegativeEntries = maximumNegativeEntries
        self.negativeTimeToLive = negativeTimeToLive
    }
}

/// Decrypted keys, bounded in entries and idle time, so a request for a warm authorization costs a dictionary lookup
/// rather than a store read and a KEK unwrap.
///
/// - Lookups are by ``CacheKey`` (a bunker public key for NIP-46, a token hash for HTTP); several lookup keys
///   may lead to one authorization, and ``invalidate(authorizationID:belowRevision:)`` drops all of them.
/// - Concurrent misses for one lookup key share one load (single flight).
/// - A load that finds nothing is remembered briefly (negative cache), so floods of requests for unknown bunkers do
///   not reach the store.
/// - Evicted values are released at once; the `SecretKey` storage wipes itself when the last reference (an eviction,
///   or a request still signing with it) goes away.
/// - Loads that were in flight when an invalidation happened are returned to their callers but not cached, so a
///   revocation can never be undone by a load that read the row just before it.
public final class DecryptedKeyCache: Sendable {
    /// The lookups that lead to one authorization: almost always one, so it is held inline.
    private enum LookupKeys {
        case one(CacheKey)
        case many([CacheKey])

        var all: [CacheKey] {
            switch self {
            case .one(let key): [key]
            case .many(let keys): keys
            }
        }

        func adding(_ key: CacheKey) -> LookupKeys {
            let keys = self.all
            return keys.contains(key) ? self : .many(keys + [key])
        }

        /// `nil` when nothing is left.
        func removing(_ key: CacheKey) -> LookupKeys? {
            let keys = self.all.filter { $0 != key }
            switch keys.count {
            case 0: return nil
            case 1: return .one(keys[0])
            default: return .many(keys)
            }
        }
    }

    private struct State {
        var entries = LRUTable<CacheKey, UnlockedAuthorization>()  // a class: each node slot holds a reference
        var negative = LRUTable<CacheKey, Void>()
        /// Usually one or two lookups per authorization, so a small array beats a set.
        var lookupKeysByAuthorization: [CompactID: LookupKeys] = [:]
        var inFlight: [CacheKey: Task<UnlockedAuthorization?, any Error>] = [:]
        var invalidations: UInt64 = 0
    }

    /// Why an entry left the cache; the `reason` label of the eviction counter.
    enum EvictionReason: String {
        case capacity
        case idle
        case invalidated
    }

    private let configuration: DecryptedKeyCacheConfiguration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    private let hits: Counter
    private let misses: Counter
    private let negativeHits: Counter
    private let evictionCounters: [String: Counter]
    private let size: Gauge

    public init(
        configuration: DecryptedKeyCacheConfiguration = .init(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.now = now
        self.hits = Counter(label: "signer_key_cache_hits_total", factory: metricsFactory)
        self.misses = Counter(label: "signer_key_cache_misses_total", factory: metricsFactory)
        self.negativeHits = Counter(label: "signer_key_cache_negative_hits_total", factory: metricsFactory)
        var evictions: [String: Counter] = [:]
        for reason in [EvictionReason.capacity, .idle, .invalidated] {
            evictions[reason.rawValue] = Counter(label: "signer_key_cache_evictions_total", dimensions: [("reason", reason.rawValue)], factory: metricsFactory)
        }
        self.evictionCounters = evictions
        self.size = Gauge(label: "signer_key_cache_entries", factory: metricsFactory)
    }

    /// The number of unlocked authorizations held.
    public var count: Int { self.state.withLock { $0.entries.count } }

    /// The cached value for `lookupKey`, or the result of `load` (shared with concurrent callers for the same key).
    /// `load` returns `nil` when there is no usable authorization; that answer is remembered for the negative TTL.
    public func value(
        for lookupKey: CacheKey,
        load: @escaping @Sendable () async throws -> UnlockedAuthorization?
    ) async throws -> UnlockedAuthorization? {
        enum Lookup {
            case hit(UnlockedAuthorization)
            case knownMissing
            case wait(Task<UnlockedAuthorization?, any Error>, loader: Bool, invalidationsAtStart: UInt64)
        }
        let instant = self.now()
        let lookup: Lookup = self.state.withLock { state in
            if let (entry, lastUsed) = state.entries.peek(lookupKey) {
                if lastUsed.duration(to: instant) < self.configuration.idleTimeout {
                    _ = state.entries.touch(lookupKey, now: instant)
                    return .hit(entry)
                }
                self.remove(lookupKey, authorizationID: entry.authorization.compactID, from: &state, reason: .idle)
            }
            if let (_, storedAt) = state.negative.peek(lookupKey) {
                if storedAt.duration(to: instant) < self.configuration.negativeTimeToLive {
                    return .knownMissing
                }
                state.negative.remove(lookupKey)
            }
            if let task = state.inFlight[lookupKey] {
                return .wait(task, loader: false, invalidationsAtStart: state.invalidations)
            }
            let task = Task { try await load() }
            state.inFlight[lookupKey] = task
            return .wait(task, loader: true, invalidationsAtStart: state.invalidations)
        }

        switch lookup {
        case .hit(let value):
            self.hits.increment()
            return value
        case .knownMissing:
            self.negativeHits.increment()
            return nil
        case .wait(let task, let loader, let invalidationsAtStart):
            if !loader { return try await task.value }
            self.misses.increment()
            let result: Result<UnlockedAuthorization?, any Error> = await task.result
            self.state.withLock { state in
                state.inFlight[lookupKey] = nil
                guard case .success(let loaded) = result, state.invalidations == invalidationsAtStart else { return }
                let stored = self.now()
                if let loaded {
                    self.insert(loaded, for: lookupKey, into: &state, now: stored)
                } else {
                    if state.negative.count >= self.configuration.maximumNegativeEntries, let oldest = state.negative.oldestEntry {
                        state.negative.remove(oldest.key)
                    }
                    state.negative.insert(lookupKey, (), now: stored)
                }
            }
            return try result.get()
        }
    }

    /// Drops every entry of `authorizationID` whose revision is below `revision` (all of them when `revision` is
    /// `nil`). Revocation, pinning and logout call this, locally and through the cluster broadcast.
    public func invalidate(authorizationID: String, belowRevision revision: Int64? = nil) {
        self.state.withLock { state in
            state.invalidations &+= 1
            let id = CompactID(authorizationID)
            for lookupKey in state.lookupKeysByAuthorization[id]?.all ?? [] {
                guard let (entry, _) = state.entries.peek(lookupKey) else { continue }
                if let revision, entry.authorization.revision >= revision { continue }
                self.remove(lookupKey, authorizationID: id, from: &state, reason: .invalidated)
            }
        }
    }

    /// Drops everything, remembered misses included: after a gap in the cluster broadcast, when changes made on
    /// other instances may have been missed.
    public func invalidateAll() {
        self.state.withLock { state in
            state.invalidations &+= 1
            while let oldest = state.entries.oldestEntry, let (entry, _) = state.entries.peek(oldest.key) {
                self.remove(oldest.key, authorizationID: entry.authorization.compactID, from: &state, reason: .invalidated)
            }
            while let oldest = state.negative.oldestEntry { state.negative.remove(oldest.key) }
        }
    }

    /// Forgets a remembered miss, for a bunker key or token that has just been created.
    public func forgetMiss(for lookupKey: CacheKey) {
        _ = self.state.withLock { $0.negative.remove(lookupKey) }
    }

    /// Drops entries idle for longer than the configured timeout. A periodic task calls this.
    public func evictIdle() {
        let instant = self.now()
        self.state.withLock { state in
            while let oldest = state.entries.oldestEntry, oldest.lastUsed.duration(to: instant) >= self.configuration.idleTimeout,
                let (entry, _) = state.entries.peek(oldest.key)
            {
                self.remove(oldest.key, authorizationID: entry.authorization.compactID, from: &state, reason: .idle)
            }
            while let oldest = state.negative.oldestEntry, oldest.lastUsed.duration(to: instant) >= self.configuration.negativeTimeToLive {
                state.negative.remove(oldest.key)
            }
        }
    }

    private func insert(_ value: UnlockedAuthorization, for lookupKey: CacheKey, into state: inout State, now: ContinuousClock.Instant) {
        if state.entries.peek(lookupKey) == nil, state.entries.count >= self.configuration.maximumEntries,
            let oldest = state.entries.oldestEntry, let (evicted, _) = state.entries.peek(oldest.key)
        {
            self.remove(oldest.key, authorizationID: evicted.authorization.compactID, from: &state, reason: .capacity)
        }
        state.entries.insert(lookupKey, value, now: now)
        let id = value.authorization.compactID
        state.lookupKeysByAuthorization[id] = state.lookupKeysByAuthorization[id]?.adding(lookupKey) ?? .one(lookupKey)
        state.negative.remove(lookupKey)
        self.size.record(state.entries.count)
    }

    private func remove(_ lookupKey: CacheKey, authorizationID: CompactID, from state: inout State, reason: EvictionReason) {
        state.entries.remove(lookupKey)
        state.lookupKeysByAuthorization[authorizationID] = state.lookupKeysByAuthorization[authorizationID]?.removing(lookupKey)
        self.evictionCounters[reason.rawValue]?.increment()
        self.size.record(state.entries.count)
    }
}
