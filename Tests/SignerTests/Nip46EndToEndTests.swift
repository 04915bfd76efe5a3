import Custody
import Foundation
import Logging
import MetricsTestKit
import Nip46
import NostrCrypto
import Synchronization
import Testing
import TestSupport

@testable import Signer

/// The signer's NIP-46 side as the daemon runs it (custody on SQLite with the file KEK, the audit log, the service),
/// on a directory it can be restarted from.
final class SignerUnderTest: Sendable {
    let directory: String
    let custodian: KeyCustodian
    let service: Nip46Service
    let auditLog: AuditLog
    let metrics = TestMetrics()
    private let store: any CustodyStore
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    static func clock() -> Int64 { Int64(Date().timeIntervalSince1970) }

    init(directory: String, relays: [String]) async throws {
        self.directory = directory
        let store = try await SQLiteCustodyStore.open(path: directory + "/signer.sqlite")
        try await store.migrate()
        let kek = try await FileKeyEncryptionBackend.openOrCreate(path: directory + "/kek", store: store)
        self.store = store
        self.custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
        try await self.custodian.loadActiveBunkers()
        self.auditLog = AuditLog(store: store)
        var logger = Logger(label: "signer.tests.nip46")
        logger.logLevel = .warning
        self.service = Nip46Service(
            configuration: Nip46ServiceConfiguration(
                relays: relays, relay: RelayConfiguration(connectTimeout: .seconds(3), backoff: Backoff(base: .milliseconds(100), maximum: .seconds(1)))
            ),
            keys: CustodyBunkerKeys(custodian: self.custodian, auditLog: self.auditLog, clock: Self.clock),
            logger: logger,
            metricsFactory: self.metrics,
            clock: Self.clock
        )
        let service = self.service
        let auditLog = self.auditLog
        self.task.withLock {
            $0 = Task {
                await withDiscardingTaskGroup { group in
                    group.addTask { await service.run() }
                    group.addTask { await auditLog.run() }
                }
            }
        }
        try await self.waitUntilSubscribed()
    }

    /// Waits until every daemon relay has delivered EOSE for the NIP-46 subscription.
    func waitUntilSubscribed(timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let pool = self.service.relays, !pool.urls.isEmpty,
                self.service.configuration.relays.allSatisfy({ pool.connection(for: $0)?.state == .subscribed })
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PeerError("the signer did not subscribe within \(timeout)")
    }

    /// A key with one authorization on `policy`.
    func authorize(policy: Policy = .full, relays: [String] = []) async throws -> (key: KeyRecord, authorization: NewAuthorization) {
        let key = try await self.custodian.createKey(label: "e2e")
        let authorization = try await self.custodian.createAuthorization(keyID: key.id, name: "app", policy: policy, relays: relays)
        return (key, authorization)
    }

    /// The service's counters, for a failure message.
    var diagnostics: String {
        let counters = self.metrics.counters.filter { $0.label.hasPrefix("signer_nip46") || $0.label.hasPrefix("signer_relay") }
        return counters.filter { $0.totalValue > 0 }.map { "\($0.label)\($0.dimensions) = \($0.totalValue)" }.sorted().joined(separator: "; ")
    }

    func stop() async throws {
        let task = self.task.withLock { $0.take() }
        task?.cancel()
        await task?.value
        await self.auditLog.flush()
        try await self.store.close()
    }
}

@Suite(.serialized, .enabled(if: Repository.hasPeers, "needs .venv with nostr-sdk (make test creates it)"))
struct Nip46EndToEndTests {
    /// Runs the raw-request peer: one request as written, the decrypted reply.
    static func raw(relay: String, bunker: PublicKey, client: SecretKey, scheme: String = "nip44", _ request: String) async throws -> [String: JSONValue] {
        let peer = try PeerProcess([Repository.python, Repository.peer("nip46_app.py"), "raw", relay, bunker.hex, client.exportHex(), scheme, request])
        defer { peer.kill() }
        return try await peer.nextObject(timeout: .seconds(20))
    }

    /// Checks a reply; when there is none, says what the signer saw (its counters), so a lost reply can be told
    /// from a dropped request.
    static func expect(
        _ object: [String: JSONValue], _ expected: Nip46Response, from signer: SignerUnderTest, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let reply = Self.reply(object) else {
            Issue.record("no reply to \(expected.id): \(object); signer: \(signer.diagnostics)", sourceLocation: sourceLocation)
            return
        }
        #expect(reply == expected, sourceLocation: sourceLocation)
    }

    static func reply(_ object: [String: JSONValue]) -> Nip46Response? {
        guard let reply = object["reply"]?.objectValue, let id = reply["id"]?.stringValue else { return nil }
        return Nip46Response(id: id, result: reply["result"]?.stringValue, error: reply["error"]?.stringValue)
    }

    @Test(
        "bunker:// with rust-nostr's NostrConnect: connect, get_public_key, sign_event, NIP-44 and NIP-04 both ways",
        arguments: RelayImplementation.allCases
    )
    func bunkerFlow(relayImplementation: RelayImplementation) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let relay = try await LocalRelay(relayImplementation)
        defer { relay.remove() }
        let signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let (key, authorization) = try await signer.authorize()
        let uri = BunkerURI(bunkerPublicKey: authorization.record.bunkerPublicKey, relays: [relay.url], secret: authorization.connectSecret)
        let peer = SecretKey.generate()
        let note = "a note for the peer ✓"
        let nip44Ciphertext = try NIP44.encrypt(note, conversationKey: NIP44ConversationKey(secretKey: peer, publicKey: key.publicKey))
        let nip04Ciphertext = try NIP04.encrypt(note, secretKey: peer, publicKey: key.publicKey)
        let operations: JSONValue = .array([
            .array([.string("get_public_key")]),
            .array([.string("sign_event"), .number("1"), .string("hello from the app")]),
            .array([.string("nip44_encrypt"), .string(peer.publicKey.hex), .string(note)]),
            .array([.string("nip44_decrypt"), .string(peer.publicKey.hex), .string(nip44Ciphertext)]),
            .array([.string("nip04_encrypt"), .string(peer.publicKey.hex), .string(note)]),
            .array([.string("nip04_decrypt"), .string(peer.publicKey.hex), .string(nip04Ciphertext)]),
        ])
        let app = try PeerProcess([Repository.python, Repository.peer("nip46_app.py"), "bunker", uri.description, operations.serialized()])
        defer { app.kill() }
        let appKey = try PublicKey(hex: try #require(try await app.nextObject()["app_pubkey"]?.stringValue))

        #expect(try await app.nextObject()["ok"]?.stringValue == key.publicKey.hex)
        let signed = try await app.nextObject()
        #expect(signed["verified"] == .bool(true))
        let event = try Event(json: Array(try #require(signed["ok"]?.stringValue).utf8))
        try event.verify()
        #expect(event.pubkey == key.publicKey && event.kind == 1 && event.content == "hello from the app")
        let encrypted44 = try #require(try await app.nextObject()["ok"]?.stringValue)
        #expect(try NIP44.decrypt(encrypted44, conversationKey: NIP44ConversationKey(secretKey: peer, publicKey: key.publicKey)) == note)
        #expect(try await app.nextObject()["ok"]?.stringValue == note)
        let encrypted04 = try #require(try await app.nextObject()["ok"]?.stringValue)
        #expect(try NIP04.decrypt(encrypted04, secretKey: peer, publicKey: key.publicKey) == note)
        #expect(try await app.nextObject()["ok"]?.stringValue == note)

        // The first connect pinned the app's key.
        let stored = try #require(try await signer.custodian.store.authorization(id: authorization.record.id))
        #expect(stored.clientPublicKey == appKey)
        // Every use is in the audit trail, without content.
        await signer.auditLog.flush()
        let audit = try await signer.custodian.store.audit(keyID: key.id, authorizationID: nil, limit: 20)
        #expect(Set(audit.map(\.method)) == ["connect", "get_public_key", "sign_event", "nip44_encrypt", "nip44_decrypt", "nip04_encrypt", "nip04_decrypt"])
        #expect(audit.allSatisfy { $0.outcome == "ok" && $0.clientPublicKey == appKey.hex && $0.path == .nip46 })
        #expect(audit.first(where: { $0.method == "sign_event" })?.eventID == event.id.hex)
        try await signer.stop()
    }

    @Test("refusals (reused secret, wrong secret, unpinned client, policy, unknown method, malformed JSON), NIP-04 in and out, ping, switch_relays, logout")
    func refusals() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let relay = try await LocalRelay()
        defer { relay.remove() }
        let signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let (_, social) = try await signer.authorize(policy: .social)
        let bunker = social.record.bunkerPublicKey
        let alice = SecretKey.generate()
        let mallory = SecretKey.generate()

        // Before connecting, nothing is answered but a refusal, get_public_key included.
        let early = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q1","method":"get_public_key","params":[]}"#)
        Self.expect(early, .failure(Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first"), id: "q1"), from: signer)
        let wrong = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, "{\"id\":\"q2\",\"method\":\"connect\",\"params\":[\"\(bunker.hex)\",\"guess\"]}")
        Self.expect(wrong, .failure(Nip46Error(.unauthorized, "the secret is wrong or was already used by another client"), id: "q2"), from: signer)
        let connect = "{\"id\":\"q3\",\"method\":\"connect\",\"params\":[\"\(bunker.hex)\",\"\(social.connectSecret)\",\"\",\"{\\\"name\\\":\\\"Alice's app\\\"}\"]}"
        Self.expect(try await Self.raw(relay: relay.url, bunker: bunker, client: alice, connect), .result("ack", id: "q3"), from: signer)
        // The secret is burned: another client presenting it is refused.
        let reused = try await Self.raw(relay: relay.url, bunker: bunker, client: mallory, connect)
        Self.expect(reused, .failure(Nip46Error(.unauthorized, "the secret is wrong or was already used by another client"), id: "q3"), from: signer)
        let stolen = try await Self.raw(relay: relay.url, bunker: bunker, client: mallory, #"{"id":"q4","method":"sign_event","params":["{\"kind\":1,\"content\":\"x\",\"tags\":[],\"created_at\":1}"]}"#)
        Self.expect(stolen, .failure(Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first"), id: "q4"), from: signer)

        // The pinned client: policy, unknown methods, malformed requests.
        let dm = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q5","method":"sign_event","params":["{\"kind\":4,\"content\":\"x\",\"tags\":[],\"created_at\":1}"]}"#)
        Self.expect(dm, .failure(Nip46Error(.forbidden, "kind 4 is not allowed by policy \"social\""), id: "q5"), from: signer)
        let unknown = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q6","method":"create_account","params":["bob"]}"#)
        Self.expect(unknown, .failure(Nip46Error(.unsupported, "create_account"), id: "q6"), from: signer)
        let malformed = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q7","method":"sign_event","params":{"kind":1}}"#)
        Self.expect(malformed, .failure(Nip46Error(.invalid, "\"params\" must be an array of strings"), id: "q7"), from: signer)
        let notJSON = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, "sign this please")
        #expect(Self.reply(notJSON)?.id == "")
        #expect(Self.reply(notJSON)?.error?.hasPrefix("invalid: request is not JSON") == true)

        // NIP-04 transport, as old clients send it: answered in NIP-04.
        let legacy = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, scheme: "nip04", #"{"id":"q8","method":"ping","params":[]}"#)
        #expect(legacy["scheme"] == .string("nip04"))
        Self.expect(legacy, .result("pong", id: "q8"), from: signer)
        let modern = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q9","method":"ping","params":[]}"#)
        #expect(modern["scheme"] == .string("nip44"))
        Self.expect(modern, .result("pong", id: "q9"), from: signer)

        // switch_relays: the authorization has no relays of its own, so the client stays where it is.
        let switched = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q10","method":"switch_relays","params":[]}"#)
        Self.expect(switched, .result(nil, id: "q10"), from: signer)
        // logout: acknowledged, then the client is a stranger again, and the burned secret cannot bring it back.
        let logout = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q11","method":"logout","params":[]}"#)
        Self.expect(logout, .result("ack", id: "q11"), from: signer)
        let after = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"q12","method":"ping","params":[]}"#)
        Self.expect(after, .failure(Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first"), id: "q12"), from: signer)
        let reconnect = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, connect)
        Self.expect(reconnect, .failure(Nip46Error(.unauthorized, "the secret is wrong or was already used by another client"), id: "q3"), from: signer)
        try await signer.stop()
    }

    @Test("nostrconnect://: the signer answers the app's URI with its secret, then serves the app")
    func nostrConnectFlow() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let relay = try await LocalRelay()
        defer { relay.remove() }
        let appRelay = try await LocalRelay()
        defer { appRelay.remove() }
        let signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let key = try await signer.custodian.createKey(label: "e2e")
        let operations: JSONValue = .array([
            .array([.string("get_public_key")]), .array([.string("sign_event"), .number("1"), .string("via nostrconnect")]),
        ])
        // The app listens on a relay of its own, which the signer has never heard of.
        let app = try PeerProcess([Repository.python, Repository.peer("nip46_app.py"), "nostrconnect", appRelay.url, operations.serialized()])
        defer { app.kill() }
        let uri = try NostrConnectURI(try #require(try await app.nextObject()["uri"]?.stringValue))
        #expect(uri.name == "Interop App" && uri.requestedPermissions == ["sign_event:1", "nip44_encrypt"] && uri.relays == [appRelay.url])
        let authorization = try await signer.custodian.createAuthorization(
            keyID: key.id, name: uri.name ?? "app", policy: .full, relays: uri.relays, pinnedClient: uri.clientPublicKey
        )
        let session = try #require(try await signer.custodian.unlock(bunkerPublicKey: authorization.record.bunkerPublicKey))
        #expect(await signer.service.acceptNostrConnect(uri, session: CustodySession(unlocked: session)))
        #expect(try await app.nextObject()["ok"]?.stringValue == key.publicKey.hex)
        let event = try Event(json: Array(try #require(try await app.nextObject()["ok"]?.stringValue).utf8))
        try event.verify()
        #expect(event.pubkey == key.publicKey && event.content == "via nostrconnect")
        try await signer.stop()
    }

    @Test("on an app's relay that demands NIP-42 AUTH, the signer authenticates with the bunker key and gets the requests")
    func authenticatesOnAppRelays() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let relay = try await LocalRelay()
        defer { relay.remove() }
        let gated = try await LocalRelay(requiresAuthentication: true)
        defer { gated.remove() }
        let signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let key = try await signer.custodian.createKey(label: "e2e")
        let app = SecretKey.generate()
        let authorization = try await signer.custodian.createAuthorization(
            keyID: key.id, name: "gated", policy: .full, relays: [gated.url], pinnedClient: app.publicKey
        )
        await signer.service.listen(on: [gated.url], for: [authorization.record.bunkerPublicKey])
        // The relay closes the subscription with auth-required:, the signer AUTHs and subscribes again.
        for _ in 0..<100 where signer.service.relays?.connection(for: gated.url)?.state != .subscribed {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(signer.service.relays?.connection(for: gated.url)?.state == .subscribed)
        // The raw peer may write without AUTH but not read, so the audit trail shows the request was answered.
        _ = try await Self.raw(relay: gated.url, bunker: authorization.record.bunkerPublicKey, client: app, #"{"id":"g","method":"get_public_key","params":[]}"#)
        await signer.auditLog.flush()
        let audit = try await signer.custodian.store.audit(keyID: key.id, authorizationID: authorization.record.id, limit: 5)
        #expect(audit.map(\.method) == ["get_public_key"] && audit.map(\.outcome) == ["ok"])
        try await signer.stop()
    }

    @Test("a relay killed and restarted is reconnected; a restarted signer keeps its authorizations", arguments: RelayImplementation.allCases)
    func restarts(relayImplementation: RelayImplementation) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let relay = try await LocalRelay(relayImplementation)
        defer { relay.remove() }
        var signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let (key, authorization) = try await signer.authorize()
        let bunker = authorization.record.bunkerPublicKey
        let alice = SecretKey.generate()
        let connect = "{\"id\":\"c\",\"method\":\"connect\",\"params\":[\"\(bunker.hex)\",\"\(authorization.connectSecret)\"]}"
        Self.expect(try await Self.raw(relay: relay.url, bunker: bunker, client: alice, connect), .result("ack", id: "c"), from: signer)

        relay.kill()
        try await relay.start()
        try await signer.waitUntilSubscribed()
        let afterRelay = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"r","method":"get_public_key","params":[]}"#)
        Self.expect(afterRelay, .result(key.publicKey.hex, id: "r"), from: signer)

        try await signer.stop()
        // created_at has one-second resolution: start the new process in a later second than the requests above.
        try await Task.sleep(for: .milliseconds(1100))
        signer = try await SignerUnderTest(directory: directory.path, relays: [relay.url])
        let afterSigner = try await Self.raw(relay: relay.url, bunker: bunker, client: alice, #"{"id":"s","method":"get_public_key","params":[]}"#)
        Self.expect(afterSigner, .result(key.publicKey.hex, id: "s"), from: signer)
        // The restarted signer answered "s" only: nostr-relay stores kind 24133, and a subscription reaching back
        // before the process started would have replayed "r" (and "c") into it.
        let answered = try signer.metrics.expectCounter("signer_nip46_requests_total", [("method", "get_public_key"), ("outcome", "ok")])
        #expect(answered.totalValue == 1)
        #expect((try? signer.metrics.expectCounter("signer_nip46_requests_total", [("method", "connect"), ("outcome", "ok")]))?.totalValue ?? 0 == 0)
        try await signer.stop()
    }
}

