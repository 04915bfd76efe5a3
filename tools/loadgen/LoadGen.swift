import ArgumentParser
import Foundation
import Logging
import Metrics
import NostrCrypto
import Synchronization

/// `loadgen`: load for a running `signer serve`, over the HTTP RPC and over NIP-46 through a relay. Figures only;
/// `make bench` runs it and writes docs/performance.md.
@main
struct LoadGen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Load generator for the signer: HTTP RPC and NIP-46 throughput and latency.",
        subcommands: [Setup.self, Run.self]
    )

    /// Where the signer is and how to administer it.
    struct Target: ParsableArguments {
        @Option(help: "The signer's HTTP address (http://host:port); several, comma-separated, spread the HTTP lanes over instances (setup uses the first).")
        var server: String

        var servers: [ServerAddress] {
            get throws { try self.server.split(separator: ",").map { try ServerAddress(url: String($0)) } }
        }

        @Option(help: "The relay NIP-46 goes through (ws://host:port); needed for the NIP-46 and mixed scenarios.")
        var relay: String?

        @Option(help: "Number of authorizations (each with its own access token; NIP-46: its own bunker key).")
        var authorizations = 64

        @Option(help: "Keys they belong to (default: one per authorization).")
        var keys: Int?

        @Option(help: "NIP-46 apps, each with its own client key and relay connection and one request in flight.")
        var apps = 64

        func validate() throws {
            guard self.authorizations > 0, self.apps > 0, (self.keys ?? 1) > 0 else { throw ValidationError("counts must be positive") }
            if self.relay != nil, self.authorizations < self.apps { throw ValidationError("--authorizations must be at least --apps") }
            do {
                guard try !self.servers.isEmpty else { throw ValidationError("--server names no address") }
            } catch let error as HTTPConnectionError {
                throw ValidationError(error.description)
            }
        }

        /// The admin token: SIGNER_ADMIN_TOKEN, as for the operator commands (never a command-line argument, which
        /// other users of the machine can read).
        func adminToken() throws -> String {
            guard let token = ProcessInfo.processInfo.environment["SIGNER_ADMIN_TOKEN"], !token.isEmpty else {
                throw LoadGenError("set SIGNER_ADMIN_TOKEN to the signer's admin token")
            }
            return token
        }

        func createGrants() async throws -> [Grant] {
            try await Grants.create(
                count: self.authorizations, keys: min(self.keys ?? self.authorizations, self.authorizations), apps: self.apps,
                server: try self.servers[0], adminToken: try self.adminToken(), relay: self.relay
            )
        }
    }

    struct Setup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create keys and authorizations through the admin API and write them to a fixture file (secrets included, mode 0600)."
        )

        @OptionGroup var target: Target

        @Option(help: "The fixture file to write.")
        var fixture: String

        func run() async throws {
            let started = ContinuousClock.now
            let grants = try await self.target.createGrants()
            try Grants.write(grants, to: self.fixture)
            print("\(grants.count) authorizations written to \(self.fixture) in \(started.duration(to: .now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run one scenario and report throughput, latency and errors.")

        enum Scenario: String, ExpressibleByArgument, CaseIterable {
            case httpSignEvent = "http-sign-event"
            case httpGetPublicKey = "http-get-public-key"
            case httpNip44Encrypt = "http-nip44-encrypt"
            case nip46SignEvent = "nip46-sign-event"
            /// HTTP sign_event, nip44_encrypt and get_public_key (3 : 1 : 1) and NIP-46 sign_event at the same time.
            case mixed
        }

        @OptionGroup var target: Target

        @Option(help: "One of: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).")
        var scenario: Scenario

        @Option(help: "Seconds recorded.")
        var duration = 10.0

        @Option(help: "Seconds run first and not recorded.")
        var warmup = 2.0

        @Option(help: "HTTP connections, each with one request in flight.")
        var concurrency = 64

        @Option(help: "Open loop: HTTP requests per second, each due on schedule and timed from then. Default: closed loop.")
        var rate: Double?

        @Option(help: "Open loop for NIP-46 (requests per second across the apps). Default: closed loop.")
        var nip46Rate: Double?

        @Option(help: "warm: each authorization is used again and again; cold: each once (its first use since the server started, when the fixture was made before a restart).")
        var cache: String = "warm"

        @Option(help: "Authorizations from this fixture file (loadgen setup) instead of new ones.")
        var fixture: String?

        @Option(help: "Seconds a NIP-46 request may wait for its reply.")
        var timeout = 10.0

        @Option(help: "Write the JSON report here (default: standard output only).")
        var output: String?

        @Option(help: "Extra fields for the report's configuration, as key=value (repeatable); make bench records the server's set-up this way.")
        var label: [String] = []

        func validate() throws {
            guard self.duration > 0, self.warmup >= 0, self.concurrency > 0, self.timeout > 0 else {
                throw ValidationError("--duration, --concurrency and --timeout must be positive")
            }
            if let rate = self.rate, rate <= 0 { throw ValidationError("--rate must be positive") }
            if let rate = self.nip46Rate, rate <= 0 { throw ValidationError("--nip46-rate must be positive") }
            guard GrantPicker.Mode(rawValue: self.cache) != nil else { throw ValidationError("--cache must be warm or cold") }
            if [.nip46SignEvent, .mixed].contains(self.scenario), self.target.relay == nil {
                throw ValidationError("--scenario \(self.scenario.rawValue) needs --relay")
            }
            guard self.label.allSatisfy({ $0.contains("=") }) else { throw ValidationError("--label takes key=value") }
        }

        func run() async throws {
            let grants: [Grant]
            if let fixture = self.fixture {
                grants = try Grants.read(from: fixture)
            } else {
                grants = try await self.target.createGrants()
            }
            let picker = GrantPicker(grants: grants, mode: GrantPicker.Mode(rawValue: self.cache)!)
            let servers = try self.target.servers
            var logger = Logger(label: "loadgen")
            logger.logLevel = .error

            let http: HTTPLoad? =
                switch self.scenario {
                case .httpSignEvent: HTTPLoad(mix: [.signEvent], servers: servers, lanes: self.concurrency, picker: picker)
                case .httpGetPublicKey: HTTPLoad(mix: [.getPublicKey], servers: servers, lanes: self.concurrency, picker: picker)
                case .httpNip44Encrypt: HTTPLoad(mix: [.nip44Encrypt], servers: servers, lanes: self.concurrency, picker: picker)
                case .mixed: HTTPLoad(mix: [.signEvent, .nip44Encrypt, .signEvent, .getPublicKey, .signEvent], servers: servers, lanes: self.concurrency, picker: picker)
                case .nip46SignEvent: nil
                }
            let nip46: Nip46Load? =
                [.nip46SignEvent, .mixed].contains(self.scenario)
                ? Nip46Load(relay: self.target.relay!, apps: self.target.apps, picker: picker, timeout: .milliseconds(Int64(self.timeout * 1000)), logger: logger)
                : nil

            // Both loads start on the same schedule; the NIP-46 apps subscribe first, so the clock starts after that.
            let warmup = Duration.milliseconds(Int64(self.warmup * 1000))
            let duration = Duration.milliseconds(Int64(self.duration * 1000))
            let cpuBefore = OwnCPU.seconds()
            let start = ContinuousClock.now + .milliseconds(nip46 == nil ? 0 : 1500)
            // loadgen's own CPU is counted over the recorded window, as the requests it is divided by are.
            let cpuAtMeasuredStart = Mutex<Double?>(nil)
            let sampler = Task {
                try await Task.sleep(until: start + warmup, clock: .continuous)
                cpuAtMeasuredStart.withLock { $0 = OwnCPU.seconds() }
            }
            let lanes = try await withThrowingTaskGroup(of: [LaneOutcome].self) { group in
                if let http {
                    let schedule = Schedule(rate: self.rate, warmup: warmup, duration: duration, start: start)
                    group.addTask { await http.run(schedule: schedule) }
                }
                if let nip46 {
                    let schedule = Schedule(rate: self.nip46Rate, warmup: warmup, duration: duration, start: start)
                    group.addTask { try await nip46.run(schedule: schedule, metricsFactory: NOOPMetricsHandler.instance) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            sampler.cancel()
            let cpu = OwnCPU.seconds() - (cpuAtMeasuredStart.withLock { $0 } ?? cpuBefore)
            // A cold run ends when its authorizations are used up, which may be before the duration.
            let measured = min(duration, (start + warmup).duration(to: .now))
            let report = await Report.build(from: lanes, measured: measured)

            var configuration: [String: JSONValue] = [
                "scenario": .string(self.scenario.rawValue), "server": .string(self.target.server),
                "loop": .string(self.rate == nil && self.nip46Rate == nil ? "closed" : "open"),
                "duration_s": .number(String(self.duration)), "warmup_s": .number(String(self.warmup)),
                "authorizations": .number(String(grants.count)), "cache": .string(self.cache),
            ]
            if http != nil { configuration["concurrency"] = .number(String(self.concurrency)) }
            if nip46 != nil {
                configuration["apps"] = .number(String(self.target.apps))
                configuration["relay"] = .string(self.target.relay!)
                configuration["timeout_s"] = .number(String(self.timeout))
            }
            if let rate = self.rate { configuration["rate"] = .number(String(rate)) }
            if let rate = self.nip46Rate { configuration["nip46_rate"] = .number(String(rate)) }
            for label in self.label {
                let parts = label.split(separator: "=", maxSplits: 1)
                configuration[String(parts[0])] = .string(parts.count > 1 ? String(parts[1]) : "")
            }
            var bytes: [UInt8] = []
            JSONWriter.append(report.json(configuration: configuration, loadgenCPUSeconds: cpu), to: &bytes)
            if let output = self.output {
                guard FileManager.default.createFile(atPath: output, contents: Data(bytes + [0x0a])) else { throw LoadGenError("cannot write \(output)") }
            }
            print(report.text())
        }
    }
}
