import ArgumentParser
import Custody
import Foundation
import CoreMetrics
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

        @Option(help: "The relay's process id, to report the CPU time it spends per request (Linux /proc).")
        var relayPid: Int32?

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
            let parse = try Self.relayMessageParsing(iterations: self.cryptoIterations)
            let endToEnd = try await self.endToEnd()
            // The service caches a session's conversation key, so only a session's first request pays the ECDH.
            let perRequest = crypto.microseconds - crypto.conversationKey
            let rows: [(String, String)] = [
                ("crypto per request (verify, 2 NIP-44, 2 signs; key cached)", String(format: "%.1f µs (%.0f requests/s on one core)", perRequest, 1e6 / perRequest)),
                ("  of which: verify the request", String(format: "%.1f µs", crypto.verify)),
                ("a session's first request (+ conversation key: ECDH, HKDF)", String(format: "%.1f µs (+ %.1f µs)", crypto.microseconds, crypto.conversationKey)),
                ("parse one relay EVENT message (the read loop's cost)", String(format: "%.1f µs", parse)),
                ("apps (one request in flight each), workers", "\(self.apps), \(self.workers)"),
                ("requests answered / sent", "\(endToEnd.answered) / \(self.requests)"),
                ("replies failing validation", "\(endToEnd.invalid)"),
                ("end-to-end sign_event throughput", String(format: "%.0f requests/s", endToEnd.throughput)),
                ("end-to-end latency p50 / p90 / p99 / max", String(format: "%.2f / %.2f / %.2f / %.2f ms", endToEnd.p50, endToEnd.p90, endToEnd.p99, endToEnd.max)),
                ("CPU per request: this process (service and apps)", String(format: "%.0f µs", endToEnd.signerCPUPerRequest)),
                ("CPU per request: the relay", endToEnd.relayCPUPerRequest.map { String(format: "%.0f µs", $0) } ?? "(pass --relay-pid)"),
                ("throughput vs crypto-only on all cores", String(format: "%.0f %%", 100 * endToEnd.throughput / (1e6 / perRequest * Double(ProcessInfo.processInfo.activeProcessorCount)))),
            ]
            for (name, value) in rows + endToEnd.counters.map({ ($0.0, "\($0.1)") }) {
                CommandLineIO.writeLine(name.padding(toLength: 62, withPad: " ", startingAt: 0) + value)
            }
        }

        /// What the signer's worker does per sign_event request, in crypto, on one core: verify the request, derive
        /// the conversation key (timed apart: the service caches it per session), decrypt, parse, sign the user's
        /// event, encrypt the reply, sign the reply.
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

        /// The relay read loop's work per event: `["EVENT", sub, {…}]` into an ``Event`` (shape only, no verify).
        static func relayMessageParsing(iterations: Int) throws -> Double {
            let app = SecretKey.generate()
            let event = try Self.requestEvent(app: app, bunker: SecretKey.generate().publicKey, id: "parse")
            let text = "[\"EVENT\",\"nip46\",\(event.jsonString())]"
            let start = ContinuousClock.now
            for _ in 0..<iterations {
                guard case .event = try RelayMessage(text: text) else { throw CommandLineError("not an EVENT") }
            }
            return Self.microseconds(ContinuousClock.now - start) / Double(iterations)
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
            /// CPU time per request during the run (µs): this process (the service and the simulated apps), and the
            /// relay's process when its pid was given.
            var signerCPUPerRequest = 0.0
            var relayCPUPerRequest: Double?
            /// Drops, unpublished replies and relay refusals, by name.
            var counters: [(String, Int64)] = []
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
            let counters = BenchmarkCounters()
            var logger = Logger(label: "signer.bench.nip46")
            logger.logLevel = ProcessInfo.processInfo.environment["SIGNER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error

            // The service first: it subscribes from the second it starts, so the requests must be created after it.
            let clock = unixClock
            let service = Nip46Service(
                configuration: Nip46ServiceConfiguration(relays: [self.relay], workers: self.workers),
                keys: CustodyBunkerKeys(custodian: custodian, auditLog: auditLog, clock: clock),
                logger: logger, metricsFactory: counters, clock: clock
            )
            let serviceTask = Task { await service.run() }
            let auditTask = Task { await auditLog.run() }
            try await Task.sleep(for: .seconds(1))

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

            // Each app on a connection of its own, as real apps are, subscribed to replies for its own key.
            var connections: [(app: SimulatedApp, connection: RelayConnection, task: Task<Void, Never>)] = []
            for app in apps.values {
                let connection = RelayConnection(url: self.relay, metricsLabel: "bench-apps", logger: logger, metricsFactory: counters, clock: clock) {
                    app.deliver($0.event)
                }
                let task = Task { await connection.run() }
                await connection.setSubscription(
                    id: "replies", Subscription(filters: [Filter(kinds: [nip46EventKind], pTags: [app.key.publicKey.hex])], lookback: .seconds(5))
                )
                connections.append((app, connection, task))
            }
            for _ in 0..<400 {
                if connections.allSatisfy({ $0.connection.state == .subscribed }), service.relays?.connection(for: self.relay)?.state == .subscribed { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard connections.allSatisfy({ $0.connection.state == .subscribed }) else { throw CommandLineError("could not subscribe on \(self.relay)") }

            let relayCPUBefore = self.relayPid.flatMap(ProcessCPU.seconds(pid:))
            let ownCPUBefore = ProcessCPU.ownSeconds()
            let start = ContinuousClock.now
            await withDiscardingTaskGroup { group in
                for (app, connection, _) in connections {
                    group.addTask { await app.run(through: connection) }
                }
            }
            let elapsed = Self.microseconds(ContinuousClock.now - start) / 1e6
            let ownCPU = ProcessCPU.ownSeconds() - ownCPUBefore
            let relayCPU = relayCPUBefore.flatMap { before in self.relayPid.flatMap(ProcessCPU.seconds(pid:)).map { $0 - before } }

            for (_, _, task) in connections { task.cancel() }
            serviceTask.cancel()
            await serviceTask.value
            auditTask.cancel()
            await auditTask.value
            try await store.close()

            // Every reply checked after the run: it decrypts, answers a request, and carries a valid signature of
            // the app's user key.
            var result = EndToEnd()
            result.signerCPUPerRequest = ownCPU * 1e6 / Double(self.requests)
            result.relayCPUPerRequest = relayCPU.map { $0 * 1e6 / Double(self.requests) }
            result.counters = counters.nonZero(prefix: "signer_nip46_events_dropped") + counters.nonZero(prefix: "signer_nip46_replies_unpublished")
                + counters.nonZero(prefix: "signer_relay_ok_rejections") + counters.nonZero(prefix: "signer_relay_publish_timeouts")
                + counters.nonZero(prefix: "signer_nip46_events_received") + counters.nonZero(prefix: "signer_nip46_requests_total")
                + counters.nonZero(prefix: "signer_relay_events") + counters.nonZero(prefix: "signer_relay_malformed")
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

/// Counters only, kept in memory, so the benchmark can say where requests went (drops by reason, rejections).
final class BenchmarkCounters: MetricsFactory, Sendable {
    final class Handler: CounterHandler, RecorderHandler, TimerHandler, FloatingPointCounterHandler, MeterHandler, Sendable {
        let value = Atomic<Int64>(0)
        func increment(by amount: Int64) { self.value.wrappingAdd(amount, ordering: .relaxed) }
        func increment(by amount: Double) {}
        func reset() { self.value.store(0, ordering: .relaxed) }
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
        func set(_ value: Int64) {}
        func set(_ value: Double) {}
        func decrement(by amount: Double) {}
    }

    private let handlers = Mutex<[String: Handler]>([:])

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        let name = label + (dimensions.isEmpty ? "" : "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}")
        return self.handlers.withLock { handlers in
            if let existing = handlers[name] { return existing }
            let handler = Handler()
            handlers[name] = handler
            return handler
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { self.handler(label, dimensions) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { self.handler(label, dimensions) }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { self.handler(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { self.handler(label, dimensions) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { self.handler(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    /// Non-zero counters whose name starts with `prefix`.
    func nonZero(prefix: String) -> [(String, Int64)] {
        self.handlers.withLock { $0 }.filter { $0.key.hasPrefix(prefix) }.map { ($0.key, $0.value.value.load(ordering: .relaxed)) }
            .filter { $0.1 > 0 }.sorted { $0.0 < $1.0 }
    }
}

/// CPU time (user + system) of processes, for the benchmark's per-request CPU figures.
enum ProcessCPU {
    static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// From `/proc/<pid>/stat` (fields 14 and 15, in clock ticks); nil where that cannot be read.
    static func seconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the parenthesised command name start at field 3.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
