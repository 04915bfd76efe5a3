import CoreMetrics
import Foundation
import MetricsTestKit
import NostrCrypto
import Testing
import TestSupport

@testable import Custody

/// The aws-kms backend against moto_server (the AWS KMS JSON API on 127.0.0.1, started by `make test`).
@Suite(.enabled(if: KMSTestServer.endpoint != nil, "needs SIGNER_TEST_KMS_ENDPOINT (make test starts moto_server)"))
struct AWSKMSBackendTests {
    let endpoint = KMSTestServer.endpoint!

    func backend(keyID: String? = nil) async throws -> AWSKMSBackend {
        var keyID = keyID
        if keyID == nil { keyID = try await KMSTestServer.createKey(endpoint: self.endpoint) }
        let configuration = KMSTestServer.configuration(endpoint: self.endpoint, keyID: keyID!)
        return AWSKMSBackend(client: try AWSKMSClient(configuration: configuration))
    }

    @Test func dataKeysUnwrapOnlyUnderTheirOwnRow() async throws {
        let kek = try await self.backend()
        let context = WrapContext(purpose: .userKey, rowID: "row-1")
        let generated = try await kek.generateDataKey(context: context)
        #expect(generated.plaintext.count == 32)
        let unwrapped = try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: kek.keyID, context: context)
        #expect(bytes(unwrapped) == bytes(generated.plaintext))

        for other in [WrapContext(purpose: .userKey, rowID: "row-2"), WrapContext(purpose: .bunkerKey, rowID: "row-1")] {
            await #expect(throws: CustodyError(.secretDoesNotOpen, "data key does not open under AWS KMS key \(kek.keyID)")) {
                _ = try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: kek.keyID, context: other)
            }
        }
        await #expect(throws: CustodyError(.unknownKEK, "data key was wrapped by AWS KMS key another-key, not the configured \(kek.keyID)")) {
            _ = try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: "another-key", context: context)
        }
    }

    @Test func wrapEncryptsAnExistingDataKey() async throws {
        let kek = try await self.backend()
        let dataKey = SecureBytes(copying: (0..<32).map { UInt8($0) })
        let context = WrapContext(purpose: .bunkerKey, rowID: "authorization-7")
        let wrapped = try await kek.wrap(dataKey: dataKey, context: context)
        #expect(bytes(try await kek.unwrap(wrappedDataKey: wrapped, keyID: kek.keyID, context: context)) == bytes(dataKey))
    }

    @Test func envelopesSealedUnderKMSOpenAndCannotSwapRows() async throws {
        let kek = try await self.backend()
        let secret = SecretKey.generate()
        let binding = SecretBinding(purpose: .userKey, rowID: "key-a", publicKey: secret.publicKey)
        let sealed = try await Envelope.seal(secret, binding: binding, kek: kek)
        #expect(sealed.backend == .awsKMS)
        #expect(sealed.kekKeyID == kek.keyID)
        let opened = try await Envelope.open(sealed, binding: binding, keks: KEKRing(current: kek))
        #expect(opened.publicKey == secret.publicKey)
        let otherRow = SecretBinding(purpose: .userKey, rowID: "key-b", publicKey: secret.publicKey)
        await #expect(throws: CustodyError.self) { _ = try await Envelope.open(sealed, binding: otherRow, keks: KEKRing(current: kek)) }
    }

    @Test func anAliasWorksAsTheKeyID() async throws {
        let keyID = try await KMSTestServer.createKey(endpoint: self.endpoint)
        let alias = "alias/nostr-signer-\(UUID().uuidString.lowercased())"
        try await KMSTestServer.send(endpoint: self.endpoint, "CreateAlias", keyID: keyID, KMSTestServer.CreateAliasRequest(aliasName: alias, targetKeyId: keyID))
        let kek = try await self.backend(keyID: alias)
        try await kek.checkHealth()
        let context = WrapContext(purpose: .userKey, rowID: "aliased")
        let generated = try await kek.generateDataKey(context: context)
        #expect(bytes(try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: alias, context: context)) == bytes(generated.plaintext))
    }

    @Test func theHealthCheckRequiresAnEnabledKey() async throws {
        let kek = try await self.backend()
        try await kek.checkHealth()
        try await KMSTestServer.send(endpoint: self.endpoint, "DisableKey", keyID: kek.keyID, KMSTestServer.KeyIDRequest(keyId: kek.keyID))
        await #expect(throws: CustodyError(.kekUnavailable, "AWS KMS key \(kek.keyID) is Disabled")) { try await kek.checkHealth() }

        let missing = try await self.backend(keyID: "00000000-0000-0000-0000-000000000000")
        do {
            try await missing.checkHealth()
            Issue.record("an unknown key passed the health check")
        } catch let error as CustodyError {
            #expect(error.code == .kekUnavailable)
            #expect(error.description.hasPrefix("AWS KMS refused DescribeKey: NotFoundException"))
        }
    }

    /// file → aws-kms → file, on every store: nothing lost, every key signing after each step.
    @Test(arguments: StoreKind.allCases)
    func rotationFromFileToKMSAndBack(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let fileKEK = try memoryKEK()
        try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: fileKEK), store: store)
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: fileKEK), cache: DecryptedKeyCache())
        var tokens: [String: PublicKey] = [:]
        for index in 0..<5 {
            let key = try await custodian.createKey(label: "key \(index)")
            tokens[try await custodian.createAuthorization(keyID: key.id, name: "app", policy: .full, relays: []).accessToken] = key.publicKey
        }

        let kms = try await self.backend()
        let toKMS = try await KEKRotation(store: store, keks: KEKRing(current: kms, previous: [fileKEK]), batchSize: 4).run()
        #expect(toKMS.rewrapped == 10)
        try await Self.expectEverything(in: store, wrappedBy: kms, tokens: tokens)

        let newFileKEK = try memoryKEK()
        let back = try await KEKRotation(store: store, keks: KEKRing(current: newFileKEK, previous: [kms]), batchSize: 4).run()
        #expect(back.rewrapped == 10)
        try await Self.expectEverything(in: store, wrappedBy: newFileKEK, tokens: tokens)
    }

    static func expectEverything(in store: any CustodyStore, wrappedBy kek: any KeyEncryptionBackend, tokens: [String: PublicKey]) async throws {
        for row in try await store.sealedSecrets(after: nil, limit: 100) {
            #expect(row.sealed.backend == kek.kind)
            #expect(row.sealed.kekKeyID == kek.keyID)
        }
        try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: kek), store: store)
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
        for (token, publicKey) in tokens {
            let unlocked = try #require(try await custodian.unlock(accessToken: token))
            #expect(unlocked.userKey.publicKey == publicKey)
            try UnsignedEvent(createdAt: 1, kind: 1, content: "still signing").signed(with: unlocked.userKey).verify()
        }
    }
}

/// A copy of secret bytes, for comparing in tests only.
func bytes(_ secret: SecureBytes) -> [UInt8] {
    secret.withUnsafeBytes { Array($0) }
}

/// What happens when the KMS is not there: retries, one clear error, a breaker that stops the waiting, recovery, and
/// cached keys that keep working throughout.
struct AWSKMSOutageTests {
    @Test func anUnreachableKMSIsRetriedThenOneClearErrorThenTheBreakerFailsFast() async throws {
        let port = try freeLoopbackPort()  // nothing listens here: every connection is refused
        let metrics = TestMetrics()
        var configuration = KMSTestServer.configuration(endpoint: "http://127.0.0.1:\(port)", keyID: "key-1")
        configuration.breakerFailureThreshold = 2
        configuration.breakerOpenDuration = .seconds(60)
        configuration.attemptTimeout = .seconds(10)
        let kek = AWSKMSBackend(client: try AWSKMSClient(configuration: configuration, metricsFactory: metrics))
        let context = WrapContext(purpose: .userKey, rowID: "row")

        let started = ContinuousClock.now
        await #expect(throws: CustodyError(.kekUnavailable, "cannot reach AWS KMS at 127.0.0.1:\(port) for Decrypt (Connection refused) (after 4 attempts)")) {
            _ = try await kek.unwrap(wrappedDataKey: [1, 2, 3], keyID: "key-1", context: context)
        }
        // Three waits of 100, 200 and 400 ms, each within ±25 %; a refused connection itself fails at once (alone this
        // takes under 1.5 s). Attempts that waited out their deadline would take over 4 × 10 s. The bound sits far
        // from both, because the full parallel run on 2 cores has stretched this to 5.9 s.
        let elapsed = started.duration(to: .now)
        #expect(elapsed >= .milliseconds(525))
        #expect(elapsed < .seconds(20))
        #expect(try metrics.expectCounter("signer_kms_requests_total", [("operation", "Decrypt"), ("outcome", "failed")]).totalValue == 4)
        #expect(!kek.client.isCircuitOpen)

        await #expect(throws: CustodyError.self) { _ = try await kek.generateDataKey(context: context) }
        #expect(kek.client.isCircuitOpen)

        // Open: no network, no waiting.
        let rejectedAt = ContinuousClock.now
        do {
            _ = try await kek.unwrap(wrappedDataKey: [1, 2, 3], keyID: "key-1", context: context)
            Issue.record("a call went through an open breaker")
        } catch let error as CustodyError {
            #expect(error.code == .kekUnavailable)
            #expect(error.description.hasPrefix("AWS KMS Decrypt not attempted: the KMS failed repeatedly and calls are paused for "))
        }
        // Far below the 525 ms that even one retry cycle would take.
        #expect(rejectedAt.duration(to: .now) < .milliseconds(400))
        #expect(try metrics.expectCounter("signer_kms_requests_total", [("operation", "Decrypt"), ("outcome", "rejected")]).totalValue == 1)
        #expect(try metrics.expectGauge("signer_kms_circuit_open").lastValue == 1)
    }

    @Test func aKMSThatStopsAnsweringTimesOutCachedKeysKeepSigningAndServiceResumes() async throws {
        guard let server = try await PrivateKMSServer() else { return }
        defer { server.kill() }
        let keyID = try await KMSTestServer.createKey(endpoint: server.endpoint)
        var configuration = KMSTestServer.configuration(endpoint: server.endpoint, keyID: keyID)
        configuration.attemptTimeout = .milliseconds(300)
        configuration.breakerFailureThreshold = 1
        configuration.breakerOpenDuration = .milliseconds(200)
        let kek = AWSKMSBackend(client: try AWSKMSClient(configuration: configuration))

        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.path + "/signer.sqlite")
        try await store.migrate()
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
        let warm = try await custodian.createKey(label: "warm")
        let cold = try await custodian.createKey(label: "cold")
        let warmToken = try await custodian.createAuthorization(keyID: warm.id, name: "a", policy: .full, relays: []).accessToken
        let coldToken = try await custodian.createAuthorization(keyID: cold.id, name: "b", policy: .full, relays: []).accessToken
        _ = try #require(try await custodian.unlock(accessToken: warmToken))

        server.pause()
        // The cached key signs without the KMS.
        let cached = try #require(try await custodian.unlock(accessToken: warmToken))
        try UnsignedEvent(createdAt: 1, kind: 1, content: "KMS is down").signed(with: cached.userKey).verify()
        // An uncached key fails with a clear error after four time-outs, not a hang.
        let started = ContinuousClock.now
        await #expect(throws: CustodyError(.kekUnavailable, "AWS KMS Decrypt did not answer within 300 ms (after 4 attempts)")) {
            _ = try await custodian.unlock(accessToken: coldToken)
        }
        #expect(started.duration(to: .now) < .seconds(4))
        #expect(kek.client.isCircuitOpen)

        server.resume()
        try await Task.sleep(for: .milliseconds(250))
        let recovered = try #require(try await custodian.unlock(accessToken: coldToken))
        #expect(recovered.userKey.publicKey == cold.publicKey)
        #expect(!kek.client.isCircuitOpen)
        try await store.close()
    }

    @Test func configurationErrorsNameTheKey() {
        let credentials = ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]
        #expect(throws: CustodyError(.invalidInput, "SIGNER_KMS_KEY_ID is not set (the aws-kms backend needs the key id or alias to use)")) {
            try AWSKMSConfiguration.fromEnvironment(credentials.merging(["AWS_REGION": "eu-west-1"]) { $1 })
        }
        #expect(throws: CustodyError(.invalidInput, "AWS_REGION is not set (the aws-kms backend needs the key's region)")) {
            try AWSKMSConfiguration.fromEnvironment(credentials.merging(["SIGNER_KMS_KEY_ID": "k"]) { $1 })
        }
        let complete = credentials.merging(["SIGNER_KMS_KEY_ID": "alias/signer", "AWS_DEFAULT_REGION": "eu-west-1"]) { $1 }
        for endpoint in ["kms.example.com", "ftp://kms.example.com", "https://kms.example.com/path", "https://user@kms.example.com"] {
            #expect(throws: CustodyError(.invalidInput, "SIGNER_KMS_ENDPOINT must look like https://host[:port]"), "\(endpoint)") {
                try AWSKMSConfiguration.fromEnvironment(complete.merging(["SIGNER_KMS_ENDPOINT": endpoint]) { $1 })
            }
        }
        let configuration = try? AWSKMSConfiguration.fromEnvironment(complete)
        #expect(configuration?.endpoint == "https://kms.eu-west-1.amazonaws.com")
        #expect(configuration?.keyID == "alias/signer")
    }
}

struct CircuitBreakerTests {
    @Test func opensAfterTheThresholdProbesOnceAndCloses() {
        var breaker = CircuitBreaker(failureThreshold: 2, openDuration: .seconds(5))
        let start = ContinuousClock.now
        #expect(breaker.admit(now: start) == .proceed)
        breaker.recordFailure(now: start)
        #expect(breaker.state == .closed(consecutiveFailures: 1))
        breaker.recordSuccess()
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start)
        #expect(breaker.state == .open(until: start + .seconds(5)))
        #expect(breaker.admit(now: start + .seconds(4)) == .reject(retryAfter: start + .seconds(5)))
        #expect(breaker.admit(now: start + .seconds(5)) == .probe)
        #expect(breaker.admit(now: start + .seconds(5)) == .reject(retryAfter: nil))
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
    }

    @Test func aFailedProbeReopensAndAnAbandonedOneLetsTheNextCallerProbe() {
        var breaker = CircuitBreaker(failureThreshold: 1, openDuration: .seconds(1))
        let start = ContinuousClock.now
        breaker.recordFailure(now: start)
        #expect(breaker.admit(now: start + .seconds(1)) == .probe)
        breaker.recordFailure(now: start + .seconds(1))
        #expect(breaker.state == .open(until: start + .seconds(2)))
        #expect(breaker.admit(now: start + .seconds(2)) == .probe)
        breaker.recordAbandonedProbe(now: start + .seconds(2))
        #expect(breaker.admit(now: start + .seconds(2)) == .probe)
    }
}
