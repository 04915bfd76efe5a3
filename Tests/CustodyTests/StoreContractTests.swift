import Custody
import Foundation
import NostrCrypto
import Testing
import TestSupport

/// The behaviour every ``CustodyStore`` must have. Each test runs against each implementation in `StoreKind`.
///
/// PostgreSQL joins when `SIGNER_TEST_POSTGRES_URL` names a server (`make test` starts one); each test then gets a
/// database of its own, created from that URL and dropped afterwards.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    static var allCases: [StoreKind] {
        PostgresTestServer.url == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    var testDescription: String { self.rawValue }

    /// A migrated, empty store and a function that disposes of it.
    func makeStore() async throws -> (store: any CustodyStore, dispose: @Sendable () async -> Void) {
        switch self {
        case .sqlite:
            let directory = TemporaryDirectory()
            let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
            try await store.migrate()
            return (store, {
                try? await store.close()
                directory.cleanUp()
            })
        case .postgres:
            let (url, drop) = try await PostgresTestServer.freshDatabase()
            let store = try PostgresCustodyStore.connect(url: url)
            try await store.migrate()
            return (store, {
                try? await store.close()
                await drop()
            })
        }
    }
}

/// Builds records with real sealed secrets, as the service will.
struct Fixtures {
    let kek = try! memoryKEK()

    func key(label: String = "alice", createdAt: Int64 = 1_000) async throws -> (record: KeyRecord, secret: SecretKey) {
        let secret = SecretKey.generate()
        let id = newID()
        let sealed = try await Envelope.seal(secret, binding: SecretBinding(purpose: .userKey, rowID: id, publicKey: secret.publicKey), kek: self.kek)
        return (KeyRecord(id: id, publicKey: secret.publicKey, sealedSecret: sealed, label: label, createdAt: createdAt), secret)
    }

    func authorization(
        keyID: String, connectSecret: String = "connect-secret", token: String = UUID().uuidString, expiresAt: Int64? = nil,
        maxUses: Int64? = nil, createdAt: Int64 = 1_000, relays: [String] = ["wss://relay.example", "ws://127.0.0.1:7777"]
    ) async throws -> AuthorizationRecord {
        let bunker = SecretKey.generate()
        let id = newID()
        let sealed = try await Envelope.seal(bunker, binding: SecretBinding(purpose: .bunkerKey, rowID: id, publicKey: bunker.publicKey), kek: self.kek)
        return AuthorizationRecord(
            id: id, keyID: keyID, name: "app", bunkerPublicKey: bunker.publicKey, bunkerSealedSecret: sealed,
            secretHash: sha256(connectSecret), clientPublicKey: nil, policy: "\"social\"", relays: relays,
            expiresAt: expiresAt, maxUses: maxUses, uses: 0, accessTokenHash: sha256(token), createdAt: createdAt, revokedAt: nil, revision: 1
        )
    }
}

@Suite struct StoreContractTests {
    let fixtures = Fixtures()

    @Test(arguments: StoreKind.allCases)
    func migrationsAreRecordedAndIdempotent(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        #expect(try await store.appliedMigrations() == [1, 2])
        #expect(try await store.migrate() == [])
        #expect(try await store.appliedMigrations() == [1, 2])
    }

    @Test(arguments: StoreKind.allCases)
    func keysRoundTripAndConflict(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, secret) = try await self.fixtures.key()
        try await store.insertKey(record)
        let loaded = try #require(try await store.key(id: record.id))
        #expect(loaded == record)
        let opened = try await Envelope.open(try #require(loaded.sealedSecret), binding: loaded.binding, keks: KEKRing(current: self.fixtures.kek))
        #expect(opened.exportHex() == secret.exportHex())
        #expect(try await store.key(id: "absent") == nil)

        // A second live key with the same public key is a conflict.
        var duplicate = record
        duplicate = KeyRecord(id: newID(), publicKey: record.publicKey, sealedSecret: record.sealedSecret, label: "dup", createdAt: 2_000)
        do {
            try await store.insertKey(duplicate)
            Issue.record("duplicate live public key accepted")
        } catch let error as CustodyError {
            #expect(error.code == .conflict)
        }
        #expect(try await store.keys(includeDeleted: false).map(\.id) == [record.id])
    }

    @Test(arguments: StoreKind.allCases)
    func authorizationsAreListedForOneKeyOrForAll(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (first, _) = try await self.fixtures.key()
        let (second, _) = try await self.fixtures.key()
        try await store.insertKey(first)
        try await store.insertKey(second)
        let mine = try await self.fixtures.authorization(keyID: first.id)
        let theirs = try await self.fixtures.authorization(keyID: second.id)
        try await store.insertAuthorization(mine)
        try await store.insertAuthorization(theirs)
        #expect(try await store.authorizations(keyID: first.id).map(\.id) == [mine.id])
        #expect(try await Set(store.authorizations(keyID: nil).map(\.id)) == [mine.id, theirs.id])
        #expect(try await store.authorizations(keyID: "no such key") == [])
    }

    @Test(arguments: StoreKind.allCases)
    func deletingAKeyShredsItAndRevokesItsAuthorizations(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        let first = try await self.fixtures.authorization(keyID: record.id)
        let second = try await self.fixtures.authorization(keyID: record.id)
        try await store.insertAuthorization(first)
        try await store.insertAuthorization(second)
        #expect(try await store.hasSealedSecrets())

        #expect(try await store.deleteKey(id: record.id, at: 5_000))
        #expect(try await !store.deleteKey(id: record.id, at: 6_000))
        let deleted = try #require(try await store.key(id: record.id))
        #expect(deleted.sealedSecret == nil)
        #expect(deleted.deletedAt == 5_000)
        for authorization in try await store.authorizations(keyID: record.id) {
            #expect(authorization.revokedAt == 5_000)
            #expect(authorization.bunkerSealedSecret == nil)
            #expect(authorization.revision == 2)
        }
        #expect(try await store.activeBunkerPublicKeys(after: nil, limit: 1_000) == [])
        #expect(try await !store.hasSealedSecrets())
        #expect(try await store.keys(includeDeleted: false) == [])
        #expect(try await store.keys(includeDeleted: true).map(\.id) == [record.id])
        // The public key is free for a new live key.
        try await store.insertKey(KeyRecord(id: newID(), publicKey: record.publicKey, sealedSecret: record.sealedSecret, label: "again", createdAt: 7_000))
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchStoresEveryRowAsGivenOrNone(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        // More rows than two of SQLite's statements take (62 authorizations each), every optional column both set and absent.
        var keys: [KeyRecord] = []
        for index in 0..<7 { keys.append(try await self.fixtures.key(label: "batch \(index)", createdAt: Int64(index)).record) }
        var authorizations: [AuthorizationRecord] = []
        for index in 0..<127 {
            var record = try await self.fixtures.authorization(
                keyID: keys[index % keys.count].id, token: "batch-\(index)", expiresAt: index % 2 == 0 ? 9_000 : nil,
                maxUses: index % 3 == 0 ? 5 : nil, createdAt: Int64(index), relays: index % 4 == 0 ? ["wss://own.example"] : []
            )
            if index % 5 == 0 {
                record.clientPublicKey = SecretKey.generate().publicKey
                record.secretHash = nil
            }
            authorizations.append(record)
        }
        try await store.insertBatch(keys: keys, authorizations: authorizations)
        #expect(try await store.keys(includeDeleted: false) == keys)
        #expect(try await store.authorizations(keyID: nil) == authorizations)

        // A batch that conflicts with a stored row (a token hash taken) stores nothing, not even its new key.
        let newKey = try await self.fixtures.key(label: "late").record
        let fresh = try await self.fixtures.authorization(keyID: newKey.id, token: "fresh")
        let clash = try await self.fixtures.authorization(keyID: newKey.id, token: "batch-0")
        do {
            try await store.insertBatch(keys: [newKey], authorizations: [fresh, clash])
            Issue.record("a batch with a taken access token was stored")
        } catch let error as CustodyError {
            #expect(error.code == .conflict)
            #expect(error.description == "cannot insert the batch: a key or authorization conflicts with one stored, or names a missing key")
        }
        #expect(try await store.key(id: newKey.id) == nil)
        #expect(try await store.authorization(id: fresh.id) == nil)
        #expect(try await store.authorizations(keyID: nil).count == authorizations.count)
    }

    @Test(arguments: StoreKind.allCases)
    func activeBunkerKeysArePagedInAscendingOrder(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        var authorizations: [AuthorizationRecord] = []
        for _ in 0..<7 { authorizations.append(try await self.fixtures.authorization(keyID: record.id)) }
        try await store.insertBatch(keys: [], authorizations: authorizations)
        #expect(try await store.revokeAuthorization(id: authorizations[2].id, at: 2_000))
        let active = authorizations.enumerated().filter { $0.offset != 2 }.map(\.element.bunkerPublicKey.hex).sorted()
        let first = try await store.activeBunkerPublicKeys(after: nil, limit: 4)
        #expect(first == Array(active.prefix(4)))
        #expect(try await store.activeBunkerPublicKeys(after: first.last, limit: 4) == Array(active.suffix(2)))
        #expect(try await store.activeBunkerPublicKeys(after: active.last, limit: 4) == [])
    }

    @Test(arguments: StoreKind.allCases)
    func activeBunkersWithOwnRelaysAreThoseStillActiveThatNameRelays(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        let withRelays = try await self.fixtures.authorization(keyID: record.id, relays: ["wss://app.example"])
        let withoutRelays = try await self.fixtures.authorization(keyID: record.id, relays: [])
        let revoked = try await self.fixtures.authorization(keyID: record.id, relays: ["wss://gone.example"])
        for authorization in [withRelays, withoutRelays, revoked] { try await store.insertAuthorization(authorization) }
        #expect(try await store.revokeAuthorization(id: revoked.id, at: 2_000))
        let listed = try await store.activeBunkersWithOwnRelays()
        #expect(listed.map(\.bunkerPublicKey) == [withRelays.bunkerPublicKey.hex])
        #expect(listed.map(\.relays) == [["wss://app.example"]])
    }

    @Test(arguments: StoreKind.allCases)
    func authorizationLookups(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        let authorization = try await self.fixtures.authorization(keyID: record.id, token: "token-1")
        try await store.insertAuthorization(authorization)
        #expect(try await store.authorization(id: authorization.id) == authorization)
        #expect(try await store.authorization(bunkerPublicKey: authorization.bunkerPublicKey.hex) == authorization)
        #expect(try await store.authorization(accessTokenHash: sha256("token-1")) == authorization)
        #expect(try await store.authorization(accessTokenHash: sha256("token-2")) == nil)
        #expect(try await store.activeBunkerPublicKeys(after: nil, limit: 1_000) == [authorization.bunkerPublicKey.hex])
        // An authorization for a key that does not exist is refused.
        let orphan = try await self.fixtures.authorization(keyID: "no-such-key")
        do {
            try await store.insertAuthorization(orphan)
            Issue.record("orphan authorization accepted")
        } catch let error as CustodyError {
            #expect(error.code == .conflict)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pinningNeedsTheSecretAndHappensOnce(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        let authorization = try await self.fixtures.authorization(keyID: record.id, connectSecret: "s3cret")
        try await store.insertAuthorization(authorization)
        let alice = SecretKey.generate().publicKey.hex
        let mallory = SecretKey.generate().publicKey.hex

        #expect(try await store.pinClient(authorizationID: authorization.id, clientPublicKey: mallory, secretHash: sha256("wrong"), now: 2_000) == .refused)
        #expect(try await store.pinClient(authorizationID: authorization.id, clientPublicKey: alice, secretHash: sha256("s3cret"), now: 2_000) == .pinned(revision: 2))
        // The secret is burned: another client with the same secret is refused; the same client reconnecting is fine.
        #expect(try await store.pinClient(authorizationID: authorization.id, clientPublicKey: mallory, secretHash: sha256("s3cret"), now: 2_000) == .refused)
        #expect(try await store.pinClient(authorizationID: authorization.id, clientPublicKey: alice, secretHash: sha256("s3cret"), now: 2_000) == .alreadyPinned)
        let pinned = try #require(try await store.authorization(id: authorization.id))
        #expect(pinned.clientPublicKey?.hex == alice)
        #expect(pinned.secretHash == nil)

        // Logout forgets the client; the burned secret cannot pin anyone again.
        #expect(try await !store.unpinClient(authorizationID: authorization.id, clientPublicKey: mallory))
        #expect(try await store.unpinClient(authorizationID: authorization.id, clientPublicKey: alice))
        #expect(try await store.pinClient(authorizationID: authorization.id, clientPublicKey: alice, secretHash: sha256("s3cret"), now: 2_000) == .refused)
        #expect(try await store.authorization(id: authorization.id)?.revision == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentConnectsPinExactlyOneClient(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)
        let authorization = try await self.fixtures.authorization(keyID: record.id, connectSecret: "race")
        try await store.insertAuthorization(authorization)
        let clients = (0..<50).map { _ in SecretKey.generate().publicKey.hex }
        let outcomes = try await withThrowingTaskGroup(of: (String, PinOutcome).self) { group in
            for client in clients {
                group.addTask {
                    (client, try await store.pinClient(authorizationID: authorization.id, clientPublicKey: client, secretHash: sha256("race"), now: 2_000))
                }
            }
            return try await group.reduce(into: [(String, PinOutcome)]()) { $0.append($1) }
        }
        let winners = outcomes.filter { $0.1 == .pinned(revision: 2) }
        #expect(winners.count == 1)
        #expect(outcomes.filter { $0.1 == .refused }.count == clients.count - 1)
        #expect(try await store.authorization(id: authorization.id)?.clientPublicKey?.hex == winners.first?.0)
    }

    @Test(arguments: StoreKind.allCases)
    func revokedExpiredAndExhaustedAuthorizations(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let (record, _) = try await self.fixtures.key()
        try await store.insertKey(record)

        let limited = try await self.fixtures.authorization(keyID: record.id, maxUses: 2)
        try await store.insertAuthorization(limited)
        #expect(try await store.recordUse(authorizationID: limited.id, now: 2_000) == .counted(uses: 1))
        #expect(try await store.recordUse(authorizationID: limited.id, now: 2_000) == .counted(uses: 2))
        #expect(try await store.recordUse(authorizationID: limited.id, now: 2_000) == .refused)
        #expect(try await store.authorization(id: limited.id)?.uses == 2)
        #expect(try await store.authorization(id: limited.id)?.isUsable(now: 2_000) == false)
        // Exhausted before any connect: the secret no longer pins.
        #expect(try await store.pinClient(authorizationID: limited.id, clientPublicKey: SecretKey.generate().publicKey.hex, secretHash: sha256("connect-secret"), now: 2_000) == .refused)

        let expiring = try await self.fixtures.authorization(keyID: record.id, expiresAt: 3_000)
        try await store.insertAuthorization(expiring)
        #expect(try await store.recordUse(authorizationID: expiring.id, now: 2_999) == .counted(uses: 1))
        #expect(try await store.recordUse(authorizationID: expiring.id, now: 3_000) == .refused)
        #expect(try await store.pinClient(authorizationID: expiring.id, clientPublicKey: SecretKey.generate().publicKey.hex, secretHash: sha256("connect-secret"), now: 3_000) == .refused)

        let revocable = try await self.fixtures.authorization(keyID: record.id)
        try await store.insertAuthorization(revocable)
        #expect(try await store.revokeAuthorization(id: revocable.id, at: 2_500))
        #expect(try await !store.revokeAuthorization(id: revocable.id, at: 2_600))
        let revoked = try #require(try await store.authorization(id: revocable.id))
        #expect(revoked.revokedAt == 2_500)
        #expect(revoked.bunkerSealedSecret == nil)
        #expect(revoked.revision == 2)
        #expect(try await store.recordUse(authorizationID: revocable.id, now: 2_700) == .refused)
        #expect(try await store.pinClient(authorizationID: revocable.id, clientPublicKey: SecretKey.generate().publicKey.hex, secretHash: sha256("connect-secret"), now: 2_700) == .refused)
        #expect(try await !store.activeBunkerPublicKeys(after: nil, limit: 1_000).contains(revocable.bunkerPublicKey.hex))
    }

    @Test(arguments: StoreKind.allCases)
    func sealedSecretsPageAndSwapSafely(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        var expected: Set<String> = []
        for _ in 0..<3 {
            let (record, _) = try await self.fixtures.key()
            try await store.insertKey(record)
            expected.insert("keys/\(record.id)")
            let authorization = try await self.fixtures.authorization(keyID: record.id)
            try await store.insertAuthorization(authorization)
            expected.insert("authorizations/\(authorization.id)")
        }
        var seen: [SealedSecretRow] = []
        var cursor: SealedSecretCursor? = nil
        while true {
            let page = try await store.sealedSecrets(after: cursor, limit: 4)
            guard let last = page.last else { break }
            seen += page
            cursor = SealedSecretCursor(table: last.table, rowID: last.rowID)
        }
        #expect(seen.count == 6)
        #expect(Set(seen.map { "\($0.table.rawValue)/\($0.rowID)" }) == expected)
        // Every row opens with its binding.
        for row in seen {
            _ = try await Envelope.open(row.sealed, binding: row.binding, keks: KEKRing(current: self.fixtures.kek))
        }
        // Compare-and-swap: succeeds once, then the expected value is stale.
        let target = try memoryKEK()
        let row = seen[0]
        let rewrapped = try await Envelope.rewrap(row.sealed, binding: row.binding, keks: KEKRing(current: self.fixtures.kek), target: target)
        #expect(try await store.replaceSealedSecret(row, with: rewrapped))
        #expect(try await !store.replaceSealedSecret(row, with: rewrapped))
        let reloaded = try await store.sealedSecrets(after: nil, limit: 10).first { $0.rowID == row.rowID }
        #expect(reloaded?.sealed == rewrapped)
    }

    @Test(arguments: StoreKind.allCases)
    func aLargeAuditBatchIsWrittenWholeAndInOrder(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        // More rows than one SQLite statement carries, and not a multiple of it.
        var records: [AuditRecord] = []
        for index in 0..<257 {
            let kind: Int? = index % 5 == 0 ? nil : index
            let eventID: String? = index % 7 == 0 ? nil : String(format: "%064x", index)
            let client: String? = index % 11 == 0 ? String(repeating: "c", count: 64) : nil
            records.append(
                AuditRecord(
                    recordedAt: 5_000 + Int64(index), keyID: "key-\(index % 3)", authorizationID: index % 2 == 0 ? "auth-\(index)" : nil,
                    path: .http, method: "sign_event", kind: kind, eventID: eventID, clientPublicKey: client,
                    outcome: index % 13 == 0 ? "forbidden" : "ok"
                )
            )
        }
        try await store.appendAudit(records)
        let read = try await store.audit(keyID: nil, authorizationID: nil, limit: 1000).map { record -> AuditRecord in
            var record = record
            record.sequence = nil
            return record
        }
        #expect(read == records.reversed())
    }

    @Test(arguments: StoreKind.allCases)
    func auditNewestFirstWithFilters(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        var records: [AuditRecord] = []
        for index in 0..<5 {
            let record = AuditRecord(
                recordedAt: 1_000 + Int64(index),
                keyID: index < 3 ? "key-a" : "key-b",
                authorizationID: index % 2 == 0 ? "auth-1" : nil,
                path: index % 2 == 0 ? AuditPath.nip46 : AuditPath.http,
                method: "sign_event",
                kind: 1,
                eventID: String(repeating: "ab", count: 32),
                clientPublicKey: nil,
                outcome: index == 4 ? "forbidden" : "ok"
            )
            records.append(record)
        }
        try await store.appendAudit(records)
        let all = try await store.audit(keyID: nil, authorizationID: nil, limit: 10)
        #expect(all.map(\.recordedAt) == [1_004, 1_003, 1_002, 1_001, 1_000])
        #expect(all.first?.outcome == "forbidden")
        var oldest = try #require(all.last)
        #expect(oldest.sequence != nil)
        oldest.sequence = nil
        #expect(oldest == records[0])
        #expect(try await store.audit(keyID: "key-a", authorizationID: nil, limit: 10).map(\.recordedAt) == [1_002, 1_001, 1_000])
        #expect(try await store.audit(keyID: "key-a", authorizationID: "auth-1", limit: 10).map(\.recordedAt) == [1_002, 1_000])
        #expect(try await store.audit(keyID: nil, authorizationID: nil, limit: 2).count == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func metadataAndPolicies(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        #expect(try await store.metadata(name: "x") == nil)
        #expect(try await store.insertMetadata(name: "x", value: [1, 2, 3]))
        #expect(try await !store.insertMetadata(name: "x", value: [9]))
        #expect(try await store.metadata(name: "x") == [1, 2, 3])
        #expect(try await store.insertPolicy(name: "blog", definition: #"{"methods":["sign_event"],"kinds":[30023]}"#, at: 1))
        #expect(try await !store.insertPolicy(name: "blog", definition: "{}", at: 2))
        #expect(try await store.policyDefinition(name: "blog") == #"{"methods":["sign_event"],"kinds":[30023]}"#)
        #expect(try await store.policyNames() == ["blog"])
    }
}

struct SQLiteStoreTests {
    @Test func aStoreThatCannotOpenSaysSo() async throws {
        do {
            _ = try await SQLiteCustodyStore.open(path: "/nonexistent-directory/signer.sqlite")
            Issue.record("opened a database in a missing directory")
        } catch let error as CustodyError {
            #expect(error.code == .storeUnavailable)
        }
    }

    @Test func reopeningKeepsEverything() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let fixtures = Fixtures()
        let (record, _) = try await fixtures.key()
        let first = try await SQLiteCustodyStore.open(path: directory.file("db"))
        try await first.migrate()
        try await first.insertKey(record)
        try await first.close()
        let second = try await SQLiteCustodyStore.open(path: directory.file("db"))
        #expect(try await second.migrate() == [])
        #expect(try await second.key(id: record.id) == record)
        try await second.close()
    }
}
