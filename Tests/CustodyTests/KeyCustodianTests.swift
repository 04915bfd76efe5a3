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

    @Test func createImportAndUnlock() async throws {
        let harness = try await Self.harness()
        defer { Task { await harness.dispose() } }
        let imported = SecretKey.generate()
        let key = try await harness.custodian.createKey(label: "imported", importing: imported)
        #expect(key.publicKey == imported.publicKey)
        let authorization = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: "\"social\"", relays: ["wss://r"])
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
        let authorization = try await harness.custodian.createAuthorization(keyID: key.id, name: "app", policy: "\"full\"", relays: [])
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
        let first = try await harness.custodian.createAuthorization(keyID: key.id, name: "a", policy: "\"full\"", relays: [])
        let second = try await harness.custodian.createAuthorization(keyID: key.id, name: "b", policy: "\"full\"", relays: [])
        #expect(try await harness.custodian.unlock(accessToken: first.accessToken) != nil)
        try await harness.custodian.deleteKey(id: key.id)
        #expect(try await harness.custodian.unlock(accessToken: first.accessToken) == nil)
        #expect(try await harness.custodian.unlock(bunkerPublicKey: second.record.bunkerPublicKey) == nil)
        do {
            _ = try await harness.custodian.createAuthorization(keyID: key.id, name: "c", policy: "\"full\"", relays: [])
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
            keyID: key.id, name: "app", policy: "\"full\"", relays: [], expiresAt: harness.clock.now + 60
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
