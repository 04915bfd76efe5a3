import ArgumentParser
import Cluster
import Configuration
import Custody
import Foundation
import Hummingbird
import Logging
import Metrics
import Nip46
import NostrCrypto
import Prometheus
import ServiceLifecycle
import UnixSignals
import Synchronization

/// `signer serve`: the daemon. HTTP RPC and the admin API, NIP-46 over the configured relays, metrics and probes,
/// until SIGTERM or SIGINT, then a graceful stop.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the signer daemon (HTTP RPC, admin API, NIP-46 over relays).",
        discussion: "Every option falls back to its SIGNER_* environment variable (docs/configuration.md). SIGNER_ADMIN_TOKEN is read from the environment only."
    )

    @OptionGroup var custody: CustodyOptions

    @Option(help: "Redis URL for a cluster (env SIGNER_REDIS_URL; absent = single node).")
    var redisURL: String?
    @Option(help: "Comma-separated ws:// or wss:// relay URLs (env SIGNER_RELAYS).")
    var relays: String?
    @Option(help: "Address to listen on (env SIGNER_HTTP_HOST, default 127.0.0.1).")
    var httpHost: String?
    @Option(help: "Port to listen on; 0 picks a free one (env SIGNER_HTTP_PORT, default 8080).")
    var httpPort: String?
    @Option(help: "text or json (env SIGNER_LOG_FORMAT, default text).")
    var logFormat: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (env SIGNER_LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(help: "Signing workers (env SIGNER_WORKERS, default: the core count).")
    var workers: String?
    @Option(help: "Requests waiting for a worker before `busy` (env SIGNER_QUEUE_SIZE, default 4096).")
    var queueSize: String?
    @Option(help: "Comma-separated browser origins allowed to call /api/nostr (env SIGNER_CORS_ORIGINS).")
    var corsOrigins: String?
    @Option(help: "Failed authentications per client address per minute; 0 = no limit (env SIGNER_FAILED_AUTH_PER_MINUTE, default 10).")
    var failedAuthPerMinute: String?
    @Option(help: "Admin API requests per client address per second; 0 = no limit (env SIGNER_ADMIN_REQUESTS_PER_SECOND, default 20).")
    var adminRequestsPerSecond: String?

    /// Flags first, then the environment.
    func configurationReader(environment: [String: String] = ProcessInfo.processInfo.environment) -> ConfigReader {
        let flags: [(ServeConfiguration.Key, String?)] = [
            (.dataDirectory, self.custody.dataDir), (.databaseURL, self.custody.databaseURL), (.kms, self.custody.kms),
            (.kekPath, self.custody.kekPath), (.kmsKeyID, self.custody.kmsKeyID), (.kmsEndpoint, self.custody.kmsEndpoint),
            (.redisURL, self.redisURL), (.relays, self.relays), (.httpHost, self.httpHost), (.httpPort, self.httpPort),
            (.logFormat, self.logFormat), (.logLevel, self.logLevel), (.workers, self.workers), (.queueSize, self.queueSize),
            (.corsOrigins, self.corsOrigins), (.failedAuthenticationsPerMinute, self.failedAuthPerMinute),
            (.adminRequestsPerSecond, self.adminRequestsPerSecond),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (key, value?) in flags {
            values[AbsoluteConfigKey(key.configKey)] = ConfigValue(.string(value), isSecret: false)
        }
        return ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(["SIGNER_ADMIN_TOKEN"])),
        ])
    }

    func run() async throws {
        let configuration: ServeConfiguration
        do {
            configuration = try ServeConfiguration(reader: self.configurationReader())
        } catch {
            throw CommandLineError(error.description)
        }
        LogSettings.apply(format: configuration.logFormat, level: configuration.logLevel)
        let prometheus = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: prometheus)
        MetricsSystem.bootstrap(metricsFactory)
        try await SignerDaemon(configuration: configuration, prometheus: prometheus, metricsFactory: metricsFactory).run()
    }
}

/// The daemon's life: open custody, start the services, serve, and stop in order.
struct SignerDaemon {
    let configuration: ServeConfiguration
    let prometheus: PrometheusCollectorRegistry
    let metricsFactory: any MetricsFactory

    func run() async throws {
        let logger = Logger(label: "signer")
        let options = self.configuration.custodyOptions
        try await options.withStore { store in
            let started = ContinuousClock.now
            let applied = try await store.migrate()
            if !applied.isEmpty { logger.info("migrations applied", metadata: ["versions": "\(applied)"]) }
            let kek = try await options.openKEK(store: store)
            let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
            let auditLog = AuditLog(store: store, logger: Logger(label: "signer.audit"), metricsFactory: self.metricsFactory)
            let (adminToken, generated) = try await AdminToken.resolve(configured: self.configuration.adminToken, store: store)
            if let generated {
                // Printed once, to the operator's terminal; the store keeps only its hash. The data directory's copy
                // (this user only) is for the operator commands on this machine.
                CommandLineIO.writeLine("admin token (shown once; store it now): \(generated)")
                let tokenFile = AdminClient.tokenFile(dataDirectory: self.configuration.dataDirectory)
                try? FileManager.default.createDirectory(atPath: self.configuration.dataDirectory, withIntermediateDirectories: true)
                if !FileManager.default.createFile(atPath: tokenFile, contents: Data((generated + "\n").utf8), attributes: [.posixPermissions: 0o600]) {
                    logger.warning("could not write the admin token file; the operator commands need SIGNER_ADMIN_TOKEN", metadata: ["path": "\(tokenFile)"])
                }
            }
            let identity = try await SignerIdentity.resolve(custodian: custodian)
            let signingPool = SigningPool(workers: self.configuration.workers, queueCapacity: self.configuration.queueSize)
            let cluster = self.configuration.cluster.map {
                ClusterNode(configuration: $0, logger: Logger(label: "signer.cluster"), metricsFactory: self.metricsFactory)
            }
            if let cluster {
                logger.info("clustered", metadata: ["member": "\(cluster.memberID)", "redis": "\(cluster.configuration.endpoint)"])
            }
            var nip46: Nip46Service?
            if !self.configuration.relays.isEmpty {
                nip46 = Nip46Service(
                    // Workers and queue are the shared signing pool's, passed in below.
                    configuration: Nip46ServiceConfiguration(relays: self.configuration.relays),
                    keys: CustodyBunkerKeys(custodian: custodian, auditLog: auditLog, clock: unixClock),
                    logger: Logger(label: "signer.nip46"), metricsFactory: self.metricsFactory, signingPool: signingPool,
                    ownership: cluster.map(ClusterOwnership.init), clock: unixClock
                )
            }
            let readiness = Readiness()
            readiness.started.store(true, ordering: .relaxed)
            let components = SignerComponents(
                custodian: custodian, auditLog: auditLog, adminToken: adminToken, identity: identity, readiness: readiness, signingPool: signingPool,
                addressLimits: self.configuration.addressLimits,
                nip46: nip46, cluster: cluster, relays: self.configuration.relays, corsOrigins: self.configuration.corsOrigins, prometheus: self.prometheus,
                metricsFactory: self.metricsFactory, clock: unixClock
            )
            let host = self.configuration.httpHost
            // Stopped in reverse order after the HTTP server has finished its requests: the NIP-46 service answers
            // what it queued and closes the relays, then the signing pool drains, then the audit log flushes.
            var services: [any Service] = [
                ClosureService(name: "audit-log") { await auditLog.run() },
                ClosureService(name: "signing-pool") { await signingPool.run() },
                BunkerLoader(custodian: custodian, nip46: nip46, readiness: readiness, logger: logger),
            ]
            if let nip46 { services.insert(ClosureService(name: "nip46") { await nip46.run() }, at: 2) }
            let app = Application(
                router: buildRouter(components),
                configuration: .init(address: .hostname(host, port: self.configuration.httpPort), serverName: "nostr-signer"),
                services: services,
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    logger.info("listening", metadata: ["url": "http://\(host):\(port)", "startup_ms": "\((ContinuousClock.now - started).milliseconds)"])
                    CommandLineIO.writeLine("signer listening on http://\(host):\(port)")
                },
                logger: Logger(label: "signer.http")
            )
            var topLevel: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(service: app), .init(service: ShutdownWatcher(readiness: readiness, logger: logger)),
            ]
            if let cluster {
                topLevel.append(.init(service: ClusterService(node: cluster, nip46: nip46, custodian: custodian, logger: Logger(label: "signer.cluster"))))
            }
            var groupConfiguration = ServiceGroupConfiguration(
                // The group stops services in reverse order: the cluster leaves the ring first, then the watcher
                // makes probes say "stopping" while the server still finishes what is in flight.
                services: topLevel,
                gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                logger: logger
            )
            // HTTP requests in flight (each bounded by the 10 s handler limit, 15 s allowed) and then NIP-46's queue
            // (10 s) get this long in all; whatever is still running is then cancelled, and given 5 s more.
            groupConfiguration.maximumGracefulShutdownDuration = .seconds(25)
            groupConfiguration.maximumCancellationDuration = .seconds(5)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            logger.info("stopped")
        }
    }
}

/// A service that runs `body` until graceful shutdown, then cancels it (each body drains on cancellation).
struct ClosureService: Service, CustomStringConvertible {
    let name: String
    let body: @Sendable () async -> Void

    init(name: String, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.body = body
    }

    var description: String { self.name }

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.body() }
    }
}

/// Loads the active-bunker set after the server is up, so start-up does not grow with the number of keys, and has
/// the NIP-46 service listen on the relays authorizations named for themselves.
struct BunkerLoader: Service {
    let custodian: KeyCustodian
    let nip46: Nip46Service?
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        var delay = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                let start = ContinuousClock.now
                try await self.custodian.loadActiveBunkers()
                if let nip46 {
                    var byRelays: [[String]: [PublicKey]] = [:]
                    for (bunker, relays) in try await self.custodian.store.activeBunkersWithOwnRelays() {
                        guard let bunker = try? PublicKey(hex: bunker) else { continue }
                        byRelays[relays, default: []].append(bunker)
                    }
                    for (relays, bunkers) in byRelays { await nip46.listen(on: relays, for: bunkers) }
                }
                self.readiness.bunkersLoaded.store(true, ordering: .relaxed)
                self.logger.info(
                    "active bunkers loaded",
                    metadata: ["count": "\(self.custodian.activeBunkers.count)", "ms": "\((ContinuousClock.now - start).milliseconds)"]
                )
                break
            } catch {
                self.logger.warning("could not load the active bunkers; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        // Stay up until shutdown: a service that returns early stops the group.
        try? await gracefulShutdown()
    }
}

/// Marks the instance not-ready the moment shutdown begins, so load balancers stop routing to it first.
struct ShutdownWatcher: Service {
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        self.readiness.stopping.store(true, ordering: .relaxed)
        self.logger.info("shutting down: finishing requests in flight")
    }
}
