import ArgumentParser
import Custody
import Foundation
import Logging
import Nip46
import NostrCrypto
import Synchronization

extension BenchCommand {
    struct Nip46Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nip46",
            abstract: "sign_event through a relay: the crypto a request costs, then end to end with many concurrent apps."
        )

        @Option(help: "The relay to measure through (ws://…); `make bench` starts rust-nostr's LocalRelay on loopback.")
        var relay: String

        @Option(help: "Simulated apps, each with its own client key and authorization, each with one request in flight.")
        var apps = 64

        @Option(help: "Requests in all (split across the apps).")
        var requests = 20_000

        @Option(help: "Signer workers.")
        var workers = ProcessInfo.processInfo.activeProcessorCount

        @Option(help: "Iterations of the crypto-only pipeline.")
        var cryptoIterations = 5_000

        @Option(help: "Where to put the benchmark database (a fresh directory is created inside).")
        var workDirectory = FileManager.default.temporaryDirectory.path

        func validate() throws {
            guard self.apps > 0, self.requests >= self.apps, self.workers > 0, self.cryptoIterations > 0 else {
                throw ValidationError("counts must be positive, and --requests at least --apps")
            }
        }

        func run() async throws {
            let options = self
            try await Task.detached { try await options.measure() }.value
        }

        private func measure() async throws {
            let crypto = try Self.cryptoPipeline(iterations: self.cryptoIterations)
            let endToEnd = try await self.endToEnd()
            let perRequest = crypto.microseconds
            let rows: [(String, String)] = [
                ("crypto per request (verify, ECDH, NIP-44 both ways, 2 signs)", String(format: "%.1f µs (%.0f requests/s on one core)", perRequest, 1e6 / perRequest)),
                ("  of which: verify the request", String(format: "%.1f µs", crypto.verify)),
                ("  of which: conversation key (ECDH + HKDF)", String(format: "%.1f µs", crypto.conversationKey)),
                ("apps (one request in flight each), workers", "\(self.apps), \(self.workers)"),
                ("requests answered / sent", "\(endToEnd.answered) / \(self.requests)"),
                ("replies failing validation", "\(endToEnd.invalid)"),
                ("end-to-end sign_event throughput", String(format: "%.0f requests/s", endToEnd.throughput)),
                ("end-to-end latency p50 / p90 / p99 / max", String(format: "%.2f / %.2f / %.2f / %.2f ms", endToEnd.p50, endToEnd.p90, endToEnd.p99, endToEnd.max)),
                ("throughput vs crypto-only on all cores", String(format: "%.0f %%", 100 * endToEnd.throughput / (1e6 / perRequest * Double(ProcessInfo.processInfo.activeProcessorCount)))),
            ]
            for (name, value) in rows {
                CommandLineIO.writeLine(name.padding(toLength: 58, withPad: " ", startingAt: 0) + value)
            }
        }

        /// What the signer's worker does per sign_event request, in crypto, on one core: verify the request, derive
        /// the conversation key once, decrypt, parse, sign the user's event, encrypt the reply, sign the reply.
        static func cryptoPipeline(iterations: Int) throws -> (microseconds: Double, verify: Double, conversationKey: Double) {
            let app = SecretKey.generate()
            let bunker = SecretKey.generate()
            let user = SecretKey.generate()
            let request = try Self.requestEvent(app: app, bunker: bunker.publicKey, id: "bench")
            var verifyTime = Duration.zero
            var keyTime = Duration.zero
            let start = ContinuousClock.now
            for _ in 0..<iterations {
                let t0 = ContinuousClock.now
                try request.verify()
                let t1 = ContinuousClock.now
                let key = try NIP44ConversationKey(secretKey: bunker, publicKey: request.pubkey)
                let t2 = ContinuousClock.now
                verifyTime += t1 - t0
                keyTime += t2 - t1
                let parsed = try Nip46Request(json: try NIP44.decrypt(request.content, conversationKey: key))
                var unsigned = try UnsignedEvent(json: Array(parsed.params[0].utf8))
                unsigned.pubkey = user.publicKey
                let signed = try unsigned.signed(with: user)
                let reply = Nip46Response.result(signed.jsonString(), id: parsed.id).encoded()
                let content = try NIP44.encrypt(reply, conversationKey: key)
                _ = try UnsignedEvent(createdAt: 1_700_000_000, kind: nip46EventKind, tags: [["p", app.publicKey.hex]], content: content).signed(with: bunker)
            }
            let total = Self.microseconds(ContinuousClock.now - start) / Double(iterations)
            return (total, Self.microseconds(verifyTime) / Double(iterations), Self.microseconds(keyTime) / Double(iterations))
        }

        static func requestEvent(app: SecretKey, bunker: PublicKey, id: String) throws -> Event {
            let event = #"{"kind":1,"content":"benchmark note","tags":[["t","bench"]],"created_at":"# + String(Int64(Date().timeIntervalSince1970)) + "}"
            let request = Nip46Request(id: id, method: "sign_event", params: [event]).encoded()
            let content = try NIP44.encrypt(request, conversationKey: NIP44ConversationKey(secretKey: app, publicKey: bunker))
            return try UnsignedEvent(createdAt: Int64(Date().timeIntervalSince1970), kind: nip46EventKind, tags: [["p", bunker.hex]], content: content)
                .signed(with: app)
        }

        struct EndToEnd {
            var answered = 0
            var invalid = 0
            var throughput = 0.0
            var p50 = 0.0, p90 = 0.0, p99 = 0.0, max = 0.0
        }

        /// One app: its keys, its pre-built requests, and what came back.
        final class SimulatedApp: Sendable {
            let key: SecretKey
            let bunker: PublicKey
            let user: PublicKey
            let requests: [Event]
            private struct State {
                var waiting: (token: Int, continuation: CheckedContinuation<Event?, Never>)?
                var replies: [Event] = []
                var latencies: [Double] = []
            }

            private let state = Mutex(State())

            init(key: SecretKey, bunker: PublicKey, user: PublicKey, requests: [Event]) {
                self.key = key
                self.bunker = bunker
                self.user = user
                self.requests = requests
            }

            /// A reply from the relay: it completes the one request in flight.
            func deliver(_ event: Event) {
                let waiting = self.state.withLock { state in
                    defer { state.waiting = nil }
                    return state.waiting
                }
                waiting?.continuation.resume(returning: event)
            }

            /// Gives up on request `token` (not published, or no reply in time) if it is still the one in flight.
            private func abandon(_ token: Int) {
                let waiting = self.state.withLock { state -> CheckedContinuation<Event?, Never>? in
                    guard let waiting = state.waiting, waiting.token == token else { return nil }
                    state.waiting = nil
                    return waiting.continuation
                }
                waiting?.resume(returning: nil)
            }

            /// Sends each request and waits for its reply (at most 10 s) before the next.
            func run(through connection: RelayConnection) async {
                for (token, request) in self.requests.enumerated() {
                    let start = ContinuousClock.now
                    let timeout = Task {
                        try await Task.sleep(for: .seconds(10))
                        self.abandon(token)
                    }
                    let reply: Event? = await withCheckedContinuation { continuation in
                        self.state.withLock { $0.waiting = (token, continuation) }
                        Task {
                            if await connection.publish(request) != .accepted { self.abandon(token) }
                        }
                    }
                    timeout.cancel()
                    guard let reply else { continue }
                    let elapsed = start.duration(to: .now)
                    self.state.withLock {
                        $0.replies.append(reply)
                        $0.latencies.append(BenchCommand.Nip46Bench.microseconds(elapsed) / 1000)
                    }
                }
            }

            var replies: [Event] { self.state.withLock { $0.replies } }
            var latencies: [Double] { self.state.withLock { $0.latencies } }
        }

        private func endToEnd() async throws -> EndToEnd {
            let directory = self.workDirectory + "/signer-bench-nip46-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try await SQLiteCustodyStore.open(path: directory + "/signer.sqlite")
            try await store.migrate()
            let kek = try await FileKeyEncryptionBackend.openOrCreate(path: directory + "/kek", store: store)
            let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
            let auditLog = AuditLog(store: store)
            var logger = Logger(label: "signer.bench.nip46")
            logger.logLevel = .error

            // The apps: a key and an authorization pinned to the app's client key each, requests built up front so
            // the apps' own crypto does not compete with the signer during the run.
            var apps: [String: SimulatedApp] = [:]
            let perApp = self.requests / self.apps
            for index in 0..<self.apps {
                let key = try await custodian.createKey(label: "bench \(index)")
                let client = SecretKey.generate()
                let authorization = try await custodian.createAuthorization(
                    keyID: key.id, name: "bench", policy: .full, relays: [], pinnedClient: client.publicKey
                )
                let requests = try (0..<perApp).map { try Self.requestEvent(app: client, bunker: authorization.record.bunkerPublicKey, id: "\(index)-\($0)") }
                apps[client.publicKey.hex] = SimulatedApp(key: client, bunker: authorization.record.bunkerPublicKey, user: key.publicKey, requests: requests)
            }

            let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
            let service = Nip46Service(
                configuration: Nip46ServiceConfiguration(relays: [self.relay], workers: self.workers),
                keys: CustodyBunkerKeys(custodian: custodian, auditLog: auditLog, clock: clock),
                logger: logger, clock: clock
            )
            let serviceTask = Task { await service.run() }
            let auditTask = Task { await auditLog.run() }
            let lookup = apps
            let appConnection = RelayConnection(url: self.relay, metricsLabel: "bench-apps", logger: logger, clock: clock) { delivery in
                guard let recipient = delivery.event.tags.first(where: { $0.first == "p" })?.last else { return }
                lookup[recipient]?.deliver(delivery.event)
            }
            let appTask = Task { await appConnection.run() }
            await appConnection.setSubscription(
                id: "bench-apps", Subscription(filters: [Filter(kinds: [nip46EventKind], pTags: Array(apps.keys))], lookback: .seconds(5))
            )
            for _ in 0..<200 {
                if appConnection.state == .subscribed, service.relays?.connection(for: self.relay)?.state == .subscribed { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard appConnection.state == .subscribed else { throw CommandLineError("could not subscribe on \(self.relay)") }

            let start = ContinuousClock.now
            await withDiscardingTaskGroup { group in
                for app in apps.values {
                    group.addTask { await app.run(through: appConnection) }
                }
            }
            let elapsed = Self.microseconds(ContinuousClock.now - start) / 1e6

            appTask.cancel()
            serviceTask.cancel()
            await serviceTask.value
            auditTask.cancel()
            await auditTask.value
            try await store.close()

            // Every reply checked after the run: it decrypts, answers a request, and carries a valid signature of
            // the app's user key.
            var result = EndToEnd()
            var latencies: [Double] = []
            for app in apps.values {
                latencies += app.latencies
                for reply in app.replies {
                    result.answered += 1
                    guard let key = try? NIP44ConversationKey(secretKey: app.key, publicKey: app.bunker),
                        let text = try? NIP44.decrypt(reply.content, conversationKey: key),
                        let response = try? Nip46Response(json: text), response.error == nil, let json = response.result,
                        let event = try? Event(json: Array(json.utf8)), event.isValid, event.pubkey == app.user, reply.isValid
                    else {
                        result.invalid += 1
                        continue
                    }
                }
            }
            latencies.sort()
            result.throughput = Double(result.answered - result.invalid) / elapsed
            if !latencies.isEmpty {
                func percentile(_ fraction: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))] }
                result.p50 = percentile(0.50)
                result.p90 = percentile(0.90)
                result.p99 = percentile(0.99)
                result.max = latencies.last!
            }
            return result
        }

        static func microseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
        }
    }
}
