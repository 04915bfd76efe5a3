@testable import Custody
import MetricsTestKit
import NostrCrypto
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { self.instant.withLock { $0 } }
    func advance(by duration: Duration) { self.instant.withLock { $0 = $0.advanced(by: duration) } }
}

/// Counts how often a loader ran.
final class LoadCounter: Sendable {
    private let value = Mutex(0)
    var count: Int { self.value.withLock { $0 } }
    func increment() { self.value.withLock { $0 += 1 } }
}

/// A distinct cache key per name, for readable tests.
func key(_ name: String) -> CacheKey { CacheKey(tokenHash: sha256(name)) }

struct DecryptedKeyCacheTests {
    let clock = ManualClock()
    let metrics = TestMetrics()

    func makeCache(_ configuration: DecryptedKeyCacheConfiguration = .init()) -> DecryptedKeyCache {
        let clock = self.clock
        return DecryptedKeyCache(configuration: configuration, now: { clock.now }, metricsFactory: self.metrics)
    }

    static func unlocked(authorizationID: String = newID(), revision: Int64 = 1) -> UnlockedAuthorization {
        let user = SecretKey.generate()
        let bunker = SecretKey.generate()
        let record = AuthorizationRecord(
            id: authorizationID, keyID: "key", name: "app", bunkerPublicKey: bunker.publicKey, bunkerSealedSecret: nil,
            secretHash: nil, clientPublicKey: nil, policy: "\"full\"", relays: [], expiresAt: nil, maxUses: nil, uses: 0,
            accessTokenHash: [UInt8](repeating: 1, count: 32), createdAt: 0, revokedAt: nil, revision: revision
        )
        return UnlockedAuthorization(authorization: record, userKey: user, bunkerKey: bunker)
    }

    func counter(_ label: String, _ dimensions: [(String, String)] = []) throws -> Int64 {
        try self.metrics.expectCounter(label, dimensions).totalValue
    }

    @Test func hitsAndMisses() async throws {
        let cache = self.makeCache()
        let value = Self.unlocked()
        let loads = LoadCounter()
        for _ in 0..<3 {
            let got = try await cache.value(for: key("bunker:a")) { loads.increment(); return value }
            #expect(got?.bunkerKey.publicKey == value.bunkerKey.publicKey)
        }
        #expect(loads.count == 1)
        #expect(try self.counter("signer_key_cache_misses_total") == 1)
        #expect(try self.counter("signer_key_cache_hits_total") == 2)
        #expect(try self.metrics.expectGauge("signer_key_cache_entries").lastValue == 1)
    }

    @Test func concurrentMissesShareOneLoad() async throws {
        let cache = self.makeCache()
        let value = Self.unlocked()
        let loads = LoadCounter()
        let results = try await withThrowingTaskGroup(of: PublicKey?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.value(for: key("bunker:slow")) {
                        loads.increment()
                        try await Task.sleep(for: .milliseconds(100))
                        return value
                    }?.userKey.publicKey
                }
            }
            return try await group.reduce(into: [PublicKey?]()) { $0.append($1) }
        }
        #expect(loads.count == 1)
        #expect(results.count == 20)
        #expect(Set(results) == [value.userKey.publicKey])
    }

    @Test func missesAreRememberedBriefly() async throws {
        let cache = self.makeCache(.init(negativeTimeToLive: .seconds(30)))
        let loads = LoadCounter()
        let unknown: @Sendable () async throws -> UnlockedAuthorization? = { loads.increment(); return nil }
        #expect(try await cache.value(for: key("bunker:unknown"), load: unknown) == nil)
        #expect(try await cache.value(for: key("bunker:unknown"), load: unknown) == nil)
        #expect(loads.count == 1)
        #expect(try self.counter("signer_key_cache_negative_hits_total") == 1)
        self.clock.advance(by: .seconds(30))
        #expect(try await cache.value(for: key("bunker:unknown"), load: unknown) == nil)
        #expect(loads.count == 2)
        // A new authorization for that bunker clears the remembered miss at once.
        cache.forgetMiss(for: key("bunker:unknown"))
        let value = Self.unlocked()
        #expect(try await cache.value(for: key("bunker:unknown")) { value } != nil)
    }

    @Test func capacityEvictsTheLeastRecentlyUsed() async throws {
        let cache = self.makeCache(.init(maximumEntries: 2))
        let loads = LoadCounter()
        for name in ["a", "b"] {
            _ = try await cache.value(for: key(name)) { loads.increment(); return Self.unlocked() }
        }
        self.clock.advance(by: .seconds(1))
        _ = try await cache.value(for: key("a")) { loads.increment(); return Self.unlocked() }  // touch a: b is now oldest
        _ = try await cache.value(for: key("c")) { loads.increment(); return Self.unlocked() }
        #expect(cache.count == 2)
        #expect(loads.count == 3)
        _ = try await cache.value(for: key("a")) { loads.increment(); return Self.unlocked() }
        #expect(loads.count == 3)
        _ = try await cache.value(for: key("b")) { loads.increment(); return Self.unlocked() }
        #expect(loads.count == 4)
        #expect(try self.counter("signer_key_cache_evictions_total", [("reason", "capacity")]) == 2)
    }

    @Test func idleEntriesExpire() async throws {
        let cache = self.makeCache(.init(idleTimeout: .seconds(60)))
        _ = try await cache.value(for: key("a")) { Self.unlocked() }
        _ = try await cache.value(for: key("b")) { Self.unlocked() }
        self.clock.advance(by: .seconds(59))
        _ = try await cache.value(for: key("b")) { Self.unlocked() }
        self.clock.advance(by: .seconds(1))
        cache.evictIdle()
        #expect(cache.count == 1)
        #expect(try self.counter("signer_key_cache_evictions_total", [("reason", "idle")]) == 1)
        // An idle entry found on lookup is reloaded rather than served.
        self.clock.advance(by: .seconds(60))
        let loads = LoadCounter()
        _ = try await cache.value(for: key("b")) { loads.increment(); return Self.unlocked() }
        #expect(loads.count == 1)
    }

    @Test func invalidationByAuthorizationAndRevision() async throws {
        let cache = self.makeCache()
        let authorizationID = newID()
        let value = Self.unlocked(authorizationID: authorizationID, revision: 3)
        _ = try await cache.value(for: key("bunker:x")) { value }
        _ = try await cache.value(for: key("token:y")) { value }
        _ = try await cache.value(for: key("bunker:other")) { Self.unlocked() }
        cache.invalidate(authorizationID: authorizationID, belowRevision: 3)
        #expect(cache.count == 3)
        cache.invalidate(authorizationID: authorizationID, belowRevision: 4)
        #expect(cache.count == 1)
        #expect(try self.counter("signer_key_cache_evictions_total", [("reason", "invalidated")]) == 2)
        let loads = LoadCounter()
        _ = try await cache.value(for: key("token:y")) { loads.increment(); return nil }
        #expect(loads.count == 1)
    }

    @Test func aLoadOverlappingAnInvalidationIsNotCached() async throws {
        let cache = self.makeCache()
        let value = Self.unlocked()
        let gate = AsyncStream<Void>.makeStream()
        let loading = Task {
            try await cache.value(for: key("bunker:race")) {
                for await _ in gate.stream { break }
                return value
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        cache.invalidate(authorizationID: value.authorization.id)
        gate.continuation.yield()
        #expect(try await loading.value?.authorization.id == value.authorization.id)
        #expect(cache.count == 0)
    }

    @Test func loadErrorsReachEveryWaiterAndAreNotCached() async throws {
        let cache = self.makeCache()
        struct StoreDown: Error {}
        await #expect(throws: StoreDown.self) { _ = try await cache.value(for: key("bunker:e")) { throw StoreDown() } }
        let value = Self.unlocked()
        #expect(try await cache.value(for: key("bunker:e")) { value } != nil)
    }
}

struct AuthorizationGrantTests {
    static func record(client: PublicKey?, tokenHash: [UInt8]) -> AuthorizationRecord {
        AuthorizationRecord(
            id: "a", keyID: "k", name: "app", bunkerPublicKey: SecretKey.generate().publicKey, bunkerSealedSecret: nil,
            secretHash: nil, clientPublicKey: client, policy: "\"social\"", relays: ["wss://relay.example"], expiresAt: 10, maxUses: 3,
            uses: 1, accessTokenHash: tokenHash, createdAt: 0, revokedAt: nil, revision: 4
        )
    }

    @Test func theGrantKeepsWhatRequestsNeed() {
        let client = SecretKey.generate().publicKey
        let grant = AuthorizationGrant(Self.record(client: client, tokenHash: [UInt8](repeating: 7, count: 32)))
        #expect(grant.isPinnedClient(client))
        #expect(!grant.isPinnedClient(SecretKey.generate().publicKey))
        #expect(grant.clientPublicKey == client)
        #expect(grant.hasPinnedClient)
        #expect(grant.relays == ["wss://relay.example"])
        #expect(grant.isUsable(now: 9))
        #expect(!grant.isUsable(now: 10))
        #expect(!AuthorizationGrant(Self.record(client: nil, tokenHash: [])).hasPinnedClient)
    }

    @Test func aDamagedTokenHashMatchesNothing() {
        #expect(!InlineDigest([1, 2, 3]).matches(InlineDigest([1, 2, 3])))
        #expect(InlineDigest([UInt8](repeating: 9, count: 32)).matches(InlineDigest([UInt8](repeating: 9, count: 32))))
        #expect(!InlineDigest([UInt8](repeating: 9, count: 32)).matches(InlineDigest([UInt8](repeating: 8, count: 32))))
    }

    @Test func builtInPoliciesAreSharedNotCopied() {
        let user = SecretKey.generate()
        let first = UnlockedAuthorization(authorization: Self.record(client: nil, tokenHash: []), userKey: user, bunkerKey: user)
        let second = UnlockedAuthorization(authorization: Self.record(client: nil, tokenHash: []), userKey: user, bunkerKey: user)
        #expect(first.policy == .social)
        #expect(SharedPolicy.forStored("\"social\"") === SharedPolicy.forStored("\"social\""))
        #expect(second.policy == first.policy)
        #expect(SharedPolicy.forStored("\"no-such-policy\"").policy == .denyAll)
    }
}
