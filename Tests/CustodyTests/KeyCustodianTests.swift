import Custody
import MetricsTestKit
import NostrCrypto
import Synchronization
import Testing

/// A Unix clock the test sets by hand.
final class ManualUnixClock: Sendable {
    private let seconds = Mutex<Int64>(1_700_000_000)
    var now: Int64 { self.seconds.withLock { $0 } }
    func advance(by delta: Int64) { self.seconds.withLock { $0 += delta } }
}

struct KeyCustodianTests {
    struct Harness {
        let custodian: KeyCustodian
        let metrics: TestMetrics
        let clock: ManualUnixClock
        let dispose: @Sendable () async -> Void
    }

    static func harness(kind: StoreKind = .sqlite) async throws -> Harness {
        let (store, dispose) = try await kind.makeStore()
        let metrics = TestMetrics()
        let clock = ManualUnixClock()
        let custodian = KeyCustodian(
            store: store, keks: KEKRing(current: try memoryKEK()), cache: DecryptedKeyCache(metricsFactory: metrics), clock: { clock.now }
        )
        return Harness(custodian: custodian, metrics: metrics, clock: clock, dispose: dispose)
    }

    @Test("the active bunker set follows creation, revocation and key deletion, and loads from the store")
    func activeBunkersStayCurrent() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let custodian = harness.custodian
        let key = try await custodian.createKey(label: "k")
        let first = try await custodian.createAuthorization(keyID: key.id, name: "a", policy: .full, relays: [])
        let second = try await custodian.createAuthorization(keyID: key.id, name: "b", policy: .full, relays: [])
        let other = try await custodian.createAuthorization(keyID: try await custodian.createKey(label: "o").id, name: "c", policy: .full, relays: [])
        #expect(custodian.activeBunkers.count == 3)
        try await custodian.revokeAuthorization(id: first.record.id)
        #expect(!custodian.activeBunkers.contains(first.record.bunkerPublicKey) && custodian.activeBunkers.contains(second.record.bunkerPublicKey))
        try await custodian.deleteKey(id: key.id)
        #expect(!custodian.activeBunkers.contains(second.record.bunkerPublicKey))
        // A new process sees the same set from the store.
        let restarted = KeyCustodian(store: custodian.store, keks: custodian.keks, cache: DecryptedKeyCache())
        #expect(restarted.activeBunkers.count == 0)
        try await restarted.loadActiveBunkers()
        #expect(restarted.activeBunkers.count == 1 && restarted.activeBunkers.contains(other.record.bunkerPublicKey))
    }

    @Test("every change another instance must see is reported in order, and applying one there drops its stale copies")
    func changesForOtherInstances() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let custodian = harness.custodian
        let changes = Mutex<[AuthorizationChange]>([])
        custodian.observeChanges { change in changes.withLock { $0.append(change) } }
        // A second instance on the same store, with no broadcast of its own.
        let other = KeyCustodian(store: custodian.store, keks: custodian.keks, cache: DecryptedKeyCache())
        let key = try await custodian.createKey(label: "k")
        let created = try await custodian.createAuthorization(keyID: key.id, name: "a", policy: .full, relays: [])
        let bunker = created.record.bunkerPublicKey
        let client = SecretKey.generate().publicKey
        #expect(try await custodian.connect(bunkerPublicKey: bunker, client: client, secret: created.connectSecret) == .pinned(revision: 2))
        #expect(try await custodian.logout(authorizationID: created.record.id, client: client))
        #expect(try await other.unlock(accessToken: created.accessToken) != nil)
        try await custodian.revokeAuthorization(id: created.record.id)
        let second = try await custodian.createAuthorization(keyID: key.id, name: "b", policy: .full, relays: [])
        try await custodian.deleteKey(id: key.id)
        let id = created.record.id
        #expect(changes.withLock { $0 } == [
            AuthorizationChange(authorizationID: id, revision: 1, bunkerPublicKey: bunker, isActive: true),
            AuthorizationChange(authorizationID: id, revision: 2, bunkerPublicKey: bunker, isActive: true),
            AuthorizationChange(authorizationID: id, revision: 3, bunkerPublicKey: bunker, isActive: true),
            AuthorizationChange(authorizationID: id, revision: 4, bunkerPublicKey: bunker, isActive: false),
            AuthorizationChange(authorizationID: second.record.id, revision: 1, bunkerPublicKey: second.record.bunkerPublicKey, isActive: true),
            AuthorizationChange(authorizationID: second.record.id, revision: nil, bunkerPublicKey: second.record.bunkerPublicKey, isActive: false),
        ])
        // Without the change, the other instance's cached copy still signs; with it, the token is refused at once.
        other.activeBunkers.insert(bunker)
        #expect(try await other.unlock(accessToken: created.accessToken) != nil)
        other.apply(changes.withLock { $0[3] })
        #expect(try await other.unlock(accessToken: created.accessToken) == nil)
        #expect(!other.activeBunkers.contains(bunker))
        // A new authorization made elsewhere becomes a known bunker here.
        other.apply(changes.withLock { $0[4] })
        #expect(other.activeBunkers.contains(second.record.bunkerPublicKey))
    }

    @Test("resynchronising after a broadcast gap drops every cached key and reloads the known bunkers from the store")
    func resynchronize() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let custodian = harness.custodian
        let other = KeyCustodian(store: custodian.store, keks: custodian.keks, cache: DecryptedKeyCache())
        let key = try await custodian.createKey(label: "k")
        let created = try await custodian.createAuthorization(keyID: key.id, name: "a", policy: .full, relays: [])
        try await other.loadActiveBunkers()
        #expect(try await other.unlock(accessToken: created.accessToken) != nil)
        // Revoked while the other instance was not listening.
        try await custodian.revokeAuthorization(id: created.record.id)
        #expect(try await other.unlock(accessToken: created.accessToken) != nil)
        try await other.resynchronize()
        #expect(try await other.unlock(accessToken: created.accessToken) == nil)
        #expect(other.activeBunkers.count == 0)
        #expect(other.cache.count == 0)
    }

    @Test func createImportAndUnlock() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let imported = SecretKey.generate()
        let key = try await harness.custodian.createKey(label: "imported", importing: imported)
        #expect(key.publicKey == imported.publicKey)
        let authorization = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: .social, relays: ["wss://r"])
        #expect(authorization.connectSecret.count == 64)
        #expect(authorization.accessToken.hasPrefix("nsat_") && authorization.accessToken.count == 69)
        #expect(authorization.record.secretHash != Array(authorization.connectSecret.utf8))

        let viaBunker = try #require(try await harness.custodian.unlock(bunkerPublicKey: authorization.record.bunkerPublicKey))
        #expect(viaBunker.userKey.exportHex() == imported.exportHex())
        #expect(viaBunker.bunkerKey.publicKey == authorization.record.bunkerPublicKey)
        let viaToken = try #require(try await harness.custodian.unlock(accessToken: authorization.accessToken))
        #expect(viaToken.authorization.id == authorization.record.id)
        #expect(try await harness.custodian.unlock(accessToken: authorization.accessToken + "0") == nil)
        #expect(try await harness.custodian.unlock(bunkerPublicKey: SecretKey.generate().publicKey) == nil)
        // Warm: no further loads.
        _ = try await harness.custodian.unlock(accessToken: authorization.accessToken)
        #expect(try harness.metrics.expectCounter("signer_key_cache_hits_total").totalValue == 1)
    }

    @Test func revocationTakesEffectOnTheNextUnlock() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let key = try await harness.custodian.createKey(label: "k")
        let authorization = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: .full, relays: [])
        #expect(try await harness.custodian.unlock(accessToken: authorization.accessToken) != nil)
        try await harness.custodian.revokeAuthorization(id: authorization.record.id)
        #expect(try await harness.custodian.unlock(accessToken: authorization.accessToken) == nil)
        #expect(try await harness.custodian.unlock(bunkerPublicKey: authorization.record.bunkerPublicKey) == nil)
        await #expect(throws: CustodyError.self) { try await harness.custodian.revokeAuthorization(id: authorization.record.id) }
    }

    @Test func deletingTheKeyLocksEveryAuthorization() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let key = try await harness.custodian.createKey(label: "k")
        let first = try await harness.custodian.createAuthorization(keyID: key.id, name: "a", policy: .full, relays: [])
        let second = try await harness.custodian.createAuthorization(keyID: key.id, name: "b", policy: .full, relays: [])
        #expect(try await harness.custodian.unlock(accessToken: first.accessToken) != nil)
        try await harness.custodian.deleteKey(id: key.id)
        #expect(try await harness.custodian.unlock(accessToken: first.accessToken) == nil)
        #expect(try await harness.custodian.unlock(bunkerPublicKey: second.record.bunkerPublicKey) == nil)
        do {
            _ = try await harness.custodian.createAuthorization(keyID: key.id, name: "c", policy: .full, relays: [])
            Issue.record("authorized a deleted key")
        } catch let error as CustodyError {
            #expect(error.code == .notFound)
        }
    }

    @Test func connectPinsOnceAndExpiryLocks() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let key = try await harness.custodian.createKey(label: "k")
        let authorization = try await harness.custodian.createAuthorization(
            keyID: key.id, name: "app", policy: .full, relays: [], expiresAt: harness.clock.now + 60
        )
        let bunker = authorization.record.bunkerPublicKey
        let client = SecretKey.generate().publicKey
        // Warm the cache before connecting: pinning must replace the stale unpinned copy.
        #expect(try await harness.custodian.unlock(bunkerPublicKey: bunker)?.authorization.clientPublicKey == nil)
        #expect(try await harness.custodian.connect(bunkerPublicKey: bunker, client: client, secret: "wrong") == .refused)
        #expect(try await harness.custodian.connect(bunkerPublicKey: bunker, client: client, secret: authorization.connectSecret) == .pinned(revision: 2))
        #expect(try await harness.custodian.unlock(bunkerPublicKey: bunker)?.authorization.clientPublicKey == client)
        #expect(try await harness.custodian.connect(bunkerPublicKey: bunker, client: SecretKey.generate().publicKey, secret: authorization.connectSecret) == .refused)
        harness.clock.advance(by: 60)
        #expect(try await harness.custodian.unlock(bunkerPublicKey: bunker) == nil)
        #expect(try await harness.custodian.unlock(accessToken: authorization.accessToken) == nil)
    }
}

struct AuthorizeTests {
    @Test func policyRateLimitAndUseLimitTogether() async throws {
        let harness = try await KeyCustodianTests.harness()
        defer { Task { await harness.dispose() } }
        let key = try await harness.custodian.createKey(label: "k")
        let policy = try Policy(json: JSONValue.parse(#"{"name":"notes","methods":["sign_event"],"kinds":[1],"rate_limit":{"per_minute":2}}"#))
        let created = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: policy, relays: [], maxUses: 3)
        #expect(created.record.policy == policy.json().serialized())
        var unlocked = try #require(try await harness.custodian.unlock(accessToken: created.accessToken))
        #expect(unlocked.policy == policy)

        let note = PolicyRequest(method: .signEvent, kind: 1)
        #expect(try await harness.custodian.authorize(unlocked, request: PolicyRequest(method: .signEvent, kind: 7))
            == .denied(PolicyDenial(code: .kindNotAllowed, description: "kind 7 is not allowed by policy \"notes\"")))
        #expect(try await harness.custodian.authorize(unlocked, request: note) == .allowed)
        #expect(try await harness.custodian.authorize(unlocked, request: note) == .allowed)
        guard case .rateLimited(let wait) = try await harness.custodian.authorize(unlocked, request: note) else {
            Issue.record("third request within a minute allowed")
            return
        }
        #expect(wait > .zero && wait <= .seconds(120))
        // Two uses were counted in the store; the cache reloads the fresh count.
        unlocked = try #require(try await harness.custodian.unlock(accessToken: created.accessToken))
        #expect(unlocked.authorization.uses == 2)
    }

    @Test func useLimitIsEnforcedInTheStore() async throws {
        let harness = try await KeyCustodianTests.harness()
        defer { Task { await harness.dispose() } }
        let key = try await harness.custodian.createKey(label: "k")
        let created = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: .full, relays: [], maxUses: 2)
        let stale = try #require(try await harness.custodian.unlock(accessToken: created.accessToken))
        let request = PolicyRequest(method: .getPublicKey)
        #expect(try await harness.custodian.authorize(stale, request: request) == .allowed)
        #expect(try await harness.custodian.authorize(stale, request: request) == .allowed)
        // The stale copy still says 0 uses, but the store refuses the third.
        #expect(try await harness.custodian.authorize(stale, request: request) == .unusable)
        #expect(try await harness.custodian.unlock(accessToken: created.accessToken) == nil)
    }

    @Test func anUnreadableStoredPolicyRefusesEverything() async throws {
        let (store, dispose) = try await StoreKind.sqlite.makeStore()
        defer { Task { await dispose() } }
        let fixtures = Fixtures()
        let (record, _) = try await fixtures.key()
        try await store.insertKey(record)
        var authorization = try await fixtures.authorization(keyID: record.id, token: "t")
        authorization.policy = #"{"name":"broken","methods":["teleport"]}"#
        try await store.insertAuthorization(authorization)
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: fixtures.kek), cache: DecryptedKeyCache())
        let unlocked = try #require(try await custodian.unlock(accessToken: "t"))
        #expect(unlocked.policy == .denyAll)
        #expect(try await custodian.authorize(unlocked, request: PolicyRequest(method: .getPublicKey))
            == .denied(PolicyDenial(code: .methodNotAllowed, description: "method \"get_public_key\" is not allowed by policy \"unreadable-policy\"")))
    }
}
