import Custody
import Foundation
import NostrCrypto
import Testing
import TestSupport

@testable import Signer

/// Bulk seeding (`signer seed`, `signer bench custody`) and the known-bunker check the daemon uses on what it seeded.
struct SeedingTests {
    /// Runs `body` with a custodian on a fresh SQLite store and KEK file in a temporary directory, then closes the
    /// store and removes the directory.
    static func withCustodian(_ body: (KeyCustodian, TemporaryDirectory) async throws -> Void) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
        do {
            try await store.migrate()
            let kek = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
            try await body(KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache()), directory)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    @Test("seeding stores every key and authorization across batches; the sample unlocks, and pinned samples are pinned")
    func seedingInBatches() async throws {
        try await Self.withCustodian { custodian, _ in
            let seeder = CustodySeeder(custodian: custodian, batchSize: 7, workers: 3)
            let sample = try await seeder.seed(keys: 4, authorizations: 30, sample: 5, sampleApps: 2)

            // Created in the same second, so listed by id; put them back in seeding order.
            let keys = try await custodian.store.keys(includeDeleted: false).sorted { Int($0.label.dropFirst(5))! < Int($1.label.dropFirst(5))! }
            #expect(keys.map(\.label) == (0..<4).map { "seed \($0)" })
            let authorizations = try await custodian.store.authorizations(keyID: nil)
            #expect(authorizations.count == 30)
            #expect(Set(authorizations.map(\.name)) == Set((0..<30).map { "seed \($0)" }))
            // Authorization i belongs to key i mod 4.
            for authorization in authorizations {
                let index = Int(authorization.name.dropFirst("seed ".count))!
                #expect(authorization.keyID == keys[index % 4].id)
                #expect(authorization.policy == Policy.full.storedForm)
            }
            // Every 6th authorization is sampled: 0, 6, 12, 18, 24, pinned alternately to two client keys.
            #expect(sample.grants.map(\.authorization.record.name) == ["seed 0", "seed 6", "seed 12", "seed 18", "seed 24"])
            let clients = sample.grants.map { $0.client?.publicKey }
            #expect(clients[0] != nil && clients[1] != nil && clients[0] != clients[1])
            #expect(clients == [clients[0], clients[1], clients[0], clients[1], clients[0]])
            for (index, grant) in sample.grants.enumerated() {
                let stored = try #require(authorizations.first { $0.id == grant.authorization.record.id })
                #expect(stored.clientPublicKey == clients[index] && stored.secretHash == nil)
                let unlocked = try #require(try await custodian.unlock(accessToken: grant.authorization.accessToken))
                #expect(unlocked.userKey.publicKey == grant.user)
                #expect(grant.user == keys[(index * 6) % 4].publicKey)
            }
            // The rest are unpinned, waiting for a connect.
            #expect(authorizations.filter { $0.clientPublicKey == nil }.allSatisfy { $0.secretHash != nil })
            #expect(authorizations.filter { $0.clientPublicKey == nil }.count == 25)
        }
    }

    @Test("the sample file is a loadgen fixture: ids, users and tokens, and for pinned grants the bunker and the client secret")
    func sampleFixture() async throws {
        try await Self.withCustodian { custodian, directory in
            let sample = try await CustodySeeder(custodian: custodian).seed(keys: 1, authorizations: 2, sample: 2, sampleApps: 1)
            let path = directory.file("sample.json")
            try sample.writeFixture(to: path)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let parsed = try JSONValue.parse(Array(try #require(FileManager.default.contents(atPath: path))))
            let rows = try #require(parsed.objectValue?["grants"]?.arrayValue)
            let expected: [JSONValue] = sample.grants.map { grant in
                .object([
                    "authorization_id": .string(grant.authorization.record.id), "user": .string(grant.user.hex),
                    "access_token": .string(grant.authorization.accessToken), "bunker": .string(grant.authorization.record.bunkerPublicKey.hex),
                    "client_secret": .string(grant.client!.exportHex()),
                ])
            }
            #expect(rows == expected)
        }
    }

    @Test("until the active-bunker set has loaded every bunker may be ours (the store decides); after, only active ones are")
    func knownBunkersBeforeAndAfterTheLoad() async throws {
        try await Self.withCustodian { custodian, _ in
            let sample = try await CustodySeeder(custodian: custodian).seed(keys: 1, authorizations: 3, sample: 3)
            let ours = sample.grants.map(\.authorization.record.bunkerPublicKey)
            let stranger = SecretKey.generate().publicKey
            let keys = CustodyBunkerKeys(custodian: custodian, auditLog: AuditLog(store: custodian.store), clock: { 0 })
            #expect(keys.isKnownBunker(stranger))
            #expect(ours.allSatisfy(keys.isKnownBunker))
            // The seeder wrote straight to the store; the daemon's load finds the bunkers there.
            #expect(custodian.activeBunkers.count == 0)
            try await custodian.loadActiveBunkers()
            #expect(!keys.isKnownBunker(stranger))
            #expect(ours.allSatisfy(keys.isKnownBunker))
            #expect(custodian.activeBunkers.count == 3)
        }
    }
}
