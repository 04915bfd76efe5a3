import ArgumentParser
import Custody
import Foundation
import NostrCrypto

/// `signer seed`: fills a store with generated keys and authorizations, straight into the store (no daemon), for
/// the scale benchmarks and load tests. It only adds rows; what the store already holds is left alone.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Add generated keys and authorizations to the store in bulk (for benchmarks and load tests).",
        discussion: """
            Authorization i belongs to key i mod --keys and has the built-in full policy. Every secret is sealed under the \
            configured KEK as usual; the access tokens and connect secrets are thrown away, except for the --sample \
            authorizations, written to a loadgen fixture file (mode 0600). A running daemon answers the new tokens over HTTP \
            at once, and NIP-46 for the new bunkers after its next start.
            """
    )

    @OptionGroup var custody: CustodyOptions

    @Option(help: "Authorizations to add.")
    var authorizations: Int

    @Option(help: "Keys they belong to (default: one per authorization).")
    var keys: Int?

    @Option(help: "Write this many authorizations, spread evenly over the rest, to --sample-file (access tokens included).")
    var sample = 0

    @Option(help: "The loadgen fixture file for the sample.")
    var sampleFile: String?

    @Option(help: "Pin the sample to this many client keys (kept in the file), as loadgen's NIP-46 apps expect; 0 leaves them unpinned (HTTP only).")
    var sampleApps = 0

    @Option(help: "Rows per transaction.")
    var batchSize = 20_000

    func validate() throws {
        guard self.authorizations > 0, (self.keys ?? 1) > 0, self.batchSize > 0 else {
            throw ValidationError("--authorizations, --keys and --batch-size must be positive")
        }
        guard (self.keys ?? 0) <= self.authorizations else { throw ValidationError("--keys must be at most --authorizations") }
        guard self.sample >= 0, self.sample <= self.authorizations, self.sampleApps >= 0 else {
            throw ValidationError("--sample must be between 0 and --authorizations, and --sample-apps not negative")
        }
        guard (self.sample > 0) == (self.sampleFile != nil) else { throw ValidationError("--sample and --sample-file go together") }
        guard self.sampleApps <= self.sample else { throw ValidationError("--sample-apps must be at most --sample") }
    }

    func run() async throws {
        _ = try self.custody.resolvedKMS
        // The crypto runs on every core from a detached task; the command itself runs on the main actor.
        let command = self
        try await Task.detached { try await command.seed() }.value
    }

    private func seed() async throws {
        try await self.custody.withStore(bulkLoading: true) { store in
            try await store.migrate()
            let kek = try await self.custody.openKEK(store: store)
            let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
            let started = ContinuousClock.now
            let seeder = CustodySeeder(custodian: custodian, batchSize: self.batchSize)
            let sampled = try await seeder.seed(
                keys: self.keys ?? self.authorizations, authorizations: self.authorizations, sample: self.sample, sampleApps: self.sampleApps
            )
            let elapsed = started.duration(to: .now)
            if let file = self.sampleFile { try sampled.writeFixture(to: file) }
            let seconds = Double(elapsed.milliseconds) / 1000
            CommandLineIO.writeLine(
                String(
                    format: "seeded %d authorizations over %d keys in %.1f s (%.0f authorizations/s)", self.authorizations,
                    self.keys ?? self.authorizations, seconds, Double(self.authorizations) / max(seconds, 0.001)
                )
            )
        }
    }
}

/// Creates keys and authorizations in bulk: the sealing on every core, the rows a transaction per batch, the next
/// batch sealed while the last one is written.
struct CustodySeeder: Sendable {
    let custodian: KeyCustodian
    var batchSize = 20_000
    var workers = ProcessInfo.processInfo.activeProcessorCount

    /// Seeded authorizations kept with their secrets, for a load generator to use.
    struct Sample: Sendable {
        struct Grant: Sendable {
            let authorization: NewAuthorization
            let user: PublicKey
            let client: SecretKey?
        }

        var grants: [Grant] = []

        var accessTokens: [String] { self.grants.map(\.authorization.accessToken) }

        /// The loadgen fixture format (`loadgen setup` writes the same): an object with a `grants` array of
        /// `authorization_id`, `user`, `access_token` and, for NIP-46, `bunker` and `client_secret`. Mode 0600.
        func writeFixture(to path: String) throws {
            let rows: [JSONValue] = self.grants.map { grant in
                let record = grant.authorization.record
                var row: [String: JSONValue] = [
                    "authorization_id": .string(record.id), "user": .string(grant.user.hex), "access_token": .string(grant.authorization.accessToken),
                ]
                if let client = grant.client {
                    row["bunker"] = .string(record.bunkerPublicKey.hex)
                    row["client_secret"] = .string(client.withUnsafeSecretBytes { Hex.encode($0) })
                }
                return .object(row)
            }
            let bytes = Array(JSONValue.object(["grants": .array(rows)]).serialized().utf8)
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw CommandLineError("cannot write the sample file \(path)")
            }
        }
    }

    /// `keys` keys, then `authorizations` authorizations (authorization *i* on key *i* mod `keys`, policy full). Keeps
    /// `sample` authorizations spread evenly over them; with `sampleApps`, sample *s* is pinned to client key *s* mod
    /// `sampleApps`.
    func seed(keys: Int, authorizations: Int, sample: Int = 0, sampleApps: Int = 0) async throws -> Sample {
        let custodian = self.custodian
        var users: [(id: String, publicKey: PublicKey)] = []
        users.reserveCapacity(keys)
        try await self.inBatches(count: keys) { index in
            try await custodian.sealNewKey(label: "seed \(index)")
        } store: { batch in
            users += batch.map { ($0.id, $0.publicKey) }
            return ([], batch)
        }

        let clients = (0..<sampleApps).map { _ in SecretKey.generate() }
        let every = sample > 0 ? authorizations / sample : 0
        let sampleIndex: @Sendable (Int) -> Int? = { index in
            guard every > 0, index % every == 0, index / every < sample else { return nil }
            return index / every
        }
        var kept = Sample()
        let owners = users
        try await self.inBatches(count: authorizations) { index in
            let owner = owners[index % owners.count]
            let client = sampleIndex(index).flatMap { clients.isEmpty ? nil : clients[$0 % clients.count] }
            return (
                try await custodian.sealNewAuthorization(
                    keyID: owner.id, name: "seed \(index)", policy: .full, relays: [], pinnedClient: client?.publicKey
                ),
                index
            )
        } store: { (batch: [(NewAuthorization, Int)]) in
            for (created, index) in batch {
                guard let slot = sampleIndex(index) else { continue }
                let client = clients.isEmpty ? nil : clients[slot % clients.count]
                kept.grants.append(Sample.Grant(authorization: created, user: owners[index % owners.count].publicKey, client: client))
            }
            return (batch.map(\.0.record), [])
        }
        return kept
    }

    /// Makes records `0..<count` with `make`, `batchSize` at a time on `workers` tasks, and hands each batch, in order,
    /// to `rows` (which returns what to store); each batch is stored in one transaction while the next is made.
    private func inBatches<Made: Sendable>(
        count: Int,
        make: @escaping @Sendable (Int) async throws -> Made,
        store rows: ([Made]) -> (authorizations: [AuthorizationRecord], keys: [KeyRecord])
    ) async throws {
        let store = self.custodian.store
        var writing: Task<Void, any Error>?
        do {
            for start in stride(from: 0, to: count, by: self.batchSize) {
                let range = start..<min(start + self.batchSize, count)
                let made = try await self.make(range, make)
                try await writing?.value
                let (authorizations, keys) = rows(made)
                writing = Task { try await store.insertBatch(keys: keys, authorizations: authorizations) }
            }
            try await writing?.value
        } catch {
            // Leave nothing writing behind the error (the batch in flight commits whole or not at all).
            _ = try? await writing?.value
            throw error
        }
    }

    /// The records for `range`, in order, made on `workers` tasks.
    private func make<Made: Sendable>(_ range: Range<Int>, _ make: @escaping @Sendable (Int) async throws -> Made) async throws -> [Made] {
        let workers = max(1, min(self.workers, range.count))
        return try await withThrowingTaskGroup(of: (Int, [Made]).self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var made: [Made] = []
                    for index in stride(from: range.lowerBound + worker, to: range.upperBound, by: workers) {
                        made.append(try await make(index))
                        // The sealing never suspends; yielding lets the previous batch's statements, which resume on
                        // these same threads between SQLite calls, go on being written meanwhile.
                        if made.count % 32 == 0 { await Task.yield() }
                    }
                    return (worker, made)
                }
            }
            var byWorker = [[Made]](repeating: [], count: workers)
            for try await (worker, made) in group { byWorker[worker] = made }
            // Interleave back into index order: worker w made indexes w, w + workers, …
            return (0..<range.count).map { byWorker[$0 % workers][$0 / workers] }
        }
    }
}
