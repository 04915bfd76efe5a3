import Custody
import NostrCrypto
import Testing

struct KEKRotationTests {
    @Test(arguments: StoreKind.allCases)
    func rotationRewrapsEverythingAndEveryKeyStillSigns(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let oldKEK = try memoryKEK()
        try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: oldKEK), store: store)
        let before = KeyCustodian(store: store, keks: KEKRing(current: oldKEK), cache: DecryptedKeyCache())
        var tokens: [String: PublicKey] = [:]
        for index in 0..<7 {
            let key = try await before.createKey(label: "key \(index)")
            let authorization = try await before.createAuthorization(keyID: key.id, name: "app", policy: .full, relays: [])
            tokens[authorization.accessToken] = key.publicKey
        }

        let newKEK = try memoryKEK()
        var reports: [KEKRotation.Progress] = []
        let progress = try await KEKRotation(store: store, keks: KEKRing(current: newKEK, previous: [oldKEK]), batchSize: 3).run {
            reports.append($0)
        }
        #expect(progress.scanned == 14)
        #expect(progress.rewrapped == 14)
        #expect(progress.alreadyCurrent == 0)
        #expect(reports.map(\.scanned) == [3, 6, 9, 12, 14])

        // The new KEK alone opens everything, the canary included, and every key still signs.
        try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: newKEK), store: store)
        let after = KeyCustodian(store: store, keks: KEKRing(current: newKEK), cache: DecryptedKeyCache())
        for (token, publicKey) in tokens {
            let unlocked = try #require(try await after.unlock(accessToken: token))
            #expect(unlocked.userKey.publicKey == publicKey)
            let event = try UnsignedEvent(createdAt: 1, kind: 1, content: "after rotation").signed(with: unlocked.userKey)
            try event.verify()
        }
        // The old KEK alone no longer opens the canary.
        await #expect(throws: CustodyError.self) { try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: oldKEK), store: store) }

        // Idempotent: a second run changes nothing.
        let again = try await KEKRotation(store: store, keks: KEKRing(current: newKEK, previous: [oldKEK])).run()
        #expect(again.rewrapped == 0)
        #expect(again.alreadyCurrent == 14)
    }

    @Test(arguments: StoreKind.allCases)
    func anInterruptedRotationResumes(kind: StoreKind) async throws {
        let (store, dispose) = try await kind.makeStore()
        defer { Task { await dispose() } }
        let oldKEK = try memoryKEK()
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: oldKEK), cache: DecryptedKeyCache())
        for index in 0..<5 { _ = try await custodian.createKey(label: "\(index)") }
        let newKEK = try memoryKEK()
        let ring = KEKRing(current: newKEK, previous: [oldKEK])
        // Stop after the first batch, as a crash would.
        let interrupted = Task {
            try await KEKRotation(store: store, keks: ring, batchSize: 2).run { _ in withUnsafeCurrentTask { $0?.cancel() } }
        }
        await #expect(throws: CancellationError.self) { try await interrupted.value }
        let resumed = try await KEKRotation(store: store, keks: ring, batchSize: 2).run()
        #expect(resumed.alreadyCurrent == 2)
        #expect(resumed.rewrapped == 3)
        for row in try await store.sealedSecrets(after: nil, limit: 100) {
            #expect(row.sealed.kekKeyID == newKEK.keyID)
        }
    }
}
