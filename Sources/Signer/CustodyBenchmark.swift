import ArgumentParser
import CGlibcMalloc
import Custody
import Foundation
import NostrCrypto

extension BenchCommand {
    struct CustodyBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "custody",
            abstract: "Cold and warm key unlocking, start-up time and memory per cached key, with the file KEK on SQLite or PostgreSQL."
        )

        @Option(help: "An empty PostgreSQL database to measure on (postgres://…); default: a SQLite file in the work directory.")
        var databaseURL: String?

        @Option(help: "Keys (each with one authorization) to store before measuring.")
        var keys = 100_000

        @Option(help: "Cold unlocks to sample for the latency percentiles.")
        var coldSamples = 2_000

        @Option(help: "Authorizations to hold in the cache when measuring memory per cached key.")
        var cachedKeys = 20_000

        @Option(help: "Where to put the benchmark database (a fresh directory is created inside).")
        var workDirectory = FileManager.default.temporaryDirectory.path

        func validate() throws {
            guard self.keys > 0, self.coldSamples > 0, self.cachedKeys > 0, self.coldSamples <= self.keys, self.cachedKeys <= self.keys else {
                throw ValidationError("counts must be positive, and samples and cached keys at most --keys")
            }
        }

        func run() async throws {
            // Measure from a detached task, as a server request runs: the command itself runs on the main actor, and
            // every call from there into nonisolated async code would add two executor hops to each figure.
            let options = self
            try await Task.detached { try await options.measure() }.value
        }

        private func measure() async throws {
            let directory = self.workDirectory + "/signer-bench-custody-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let kekPath = directory + "/kek"
            let openStore: @Sendable () async throws -> any CustodyStore
            if let url = self.databaseURL {
                openStore = { try PostgresCustodyStore.connect(url: url) }
            } else {
                let databasePath = directory + "/signer.sqlite"
                openStore = { try await SQLiteCustodyStore.open(path: databasePath) }
            }

            var store = try await openStore()
            try await store.migrate()
            guard !(try await store.hasSealedSecrets()) else { throw CommandLineError("the benchmark needs an empty database") }
            var kek = try await FileKeyEncryptionBackend.openOrCreate(path: kekPath, store: store)
            try await store.close()
            // Start-up with no keys: open, migrate (nothing to do), open the KEK, verify the canary.
            let emptyStartUp = try await Self.startUp(openStore: openStore, kekPath: kekPath)

            store = try await openStore()
            var custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
            let seedStart = ContinuousClock.now
            // Bulk seeding as `signer seed` does it; the tokens kept are spread over the whole table.
            let tokens = try await CustodySeeder(custodian: custodian)
                .seed(keys: self.keys, authorizations: self.keys, sample: max(self.coldSamples, self.cachedKeys)).accessTokens
            let seedSeconds = Self.seconds(ContinuousClock.now - seedStart)
            try await store.close()

            // The same with the keys stored: start-up must not grow with them.
            let fullStartUp = try await Self.startUp(openStore: openStore, kekPath: kekPath)

            store = try await openStore()
            kek = try FileKeyEncryptionBackend.open(path: kekPath)
            custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache(configuration: .init(maximumEntries: self.keys)))

            // Cold: each sampled token is unlocked for the first time.
            var cold: [Double] = []
            cold.reserveCapacity(self.coldSamples)
            let stride = tokens.count / self.coldSamples
            for sample in 0..<self.coldSamples {
                let start = ContinuousClock.now
                guard try await custodian.unlock(accessToken: tokens[sample * stride]) != nil else {
                    throw CommandLineError("benchmark token failed to unlock")
                }
                cold.append(Self.seconds(ContinuousClock.now - start) * 1e6)
            }

            // Warm: the same token again and again.
            let hitIterations = 200_000
            let warmToken = tokens[0]
            let hitStart = ContinuousClock.now
            for _ in 0..<hitIterations {
                _ = try await custodian.unlock(accessToken: warmToken)
            }
            let hitMicroseconds = Self.seconds(ContinuousClock.now - hitStart) * 1e6 / Double(hitIterations)

            // Memory per cached key: what the cache gives back when it goes away. Growth while filling would also
            // count SQLite's page cache and allocator arenas warmed by the loads, which the cache does not hold.
            var memoryCustodian: KeyCustodian? = KeyCustodian(
                store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache(configuration: .init(maximumEntries: self.keys))
            )
            for token in tokens.suffix(self.cachedKeys) {
                _ = try await memoryCustodian?.unlock(accessToken: token)
            }
            let heapFull = Self.heapBytesInUse()
            let residentFull = Self.residentBytesAfterTrim()
            memoryCustodian = nil
            let heapEmpty = Self.heapBytesInUse()
            let residentEmpty = Self.residentBytesAfterTrim()
            try await store.close()
            cold.sort()
            let table: [(String, String)] = [
                ("store", self.databaseURL == nil ? "SQLite" : "PostgreSQL"),
                ("stored keys (each with one authorization)", "\(self.keys)"),
                ("seeding time", String(format: "%.1f s (%.0f keys/s)", seedSeconds, Double(self.keys) / seedSeconds)),
                ("start-up, empty database (median of 5)", String(format: "%.1f ms", emptyStartUp * 1e3)),
                ("start-up, \(self.keys) keys (median of 5)", String(format: "%.1f ms", fullStartUp * 1e3)),
                ("cold unlock p50 (store read + 2 unwraps + 2 opens)", String(format: "%.0f µs", Self.percentile(cold, 0.50))),
                ("cold unlock p99", String(format: "%.0f µs", Self.percentile(cold, 0.99))),
                ("cache hit (token hash + lookup)", String(format: "%.2f µs", hitMicroseconds)),
                ("heap in use per cached key", String(format: "%.0f bytes (%d keys cached)", Double(heapFull - heapEmpty) / Double(self.cachedKeys), self.cachedKeys)),
                ("resident memory per cached key (after trim)", String(format: "%.0f bytes", Double(residentFull - residentEmpty) / Double(self.cachedKeys))),
            ]
            for (name, value) in table {
                CommandLineIO.writeLine(name.padding(toLength: 52, withPad: " ", startingAt: 0) + value)
            }
        }

        /// The median of five start-ups, so one slow connection or a server busy after the bulk load does not decide it.
        static func startUp(openStore: () async throws -> any CustodyStore, kekPath: String) async throws -> Double {
            var samples: [Double] = []
            for _ in 0..<5 { samples.append(try await Self.startUpOnce(openStore: openStore, kekPath: kekPath)) }
            return samples.sorted()[2]
        }

        static func startUpOnce(openStore: () async throws -> any CustodyStore, kekPath: String) async throws -> Double {
            let start = ContinuousClock.now
            let store = try await openStore()
            try await store.migrate()
            _ = try await FileKeyEncryptionBackend.openOrCreate(path: kekPath, store: store)
            let elapsed = Self.seconds(ContinuousClock.now - start)
            try await store.close()
            return elapsed
        }

        static func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }

        static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
            sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))]
        }

        /// Bytes the allocator has handed out and not had back (all arenas, mmapped blocks included). Unlike the
        /// resident set size this does not depend on fragmentation or on when free pages go back to the system.
        static func heapBytesInUse() -> Int {
            let info = mallinfo2()
            return Int(info.uordblks + info.hblkhd)
        }

        /// Resident set size after returning free heap pages to the system.
        static func residentBytesAfterTrim() -> Int {
            _ = malloc_trim(0)
            return Self.residentBytes()
        }

        /// Resident set size from /proc/self/statm (pages × page size).
        static func residentBytes() -> Int {
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
            let fields = text.split(separator: " ")
            guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
    }
}
