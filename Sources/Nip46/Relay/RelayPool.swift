import CoreMetrics
import Logging
import NostrCrypto
import Synchronization

/// The relays the signer is connected to: the configured ones for good, and the ones apps name (a nostrconnect URI,
/// an authorization's own relays) as long as they are needed. It publishes to several at once and is satisfied by
/// the first that accepts.
public final class RelayPool: Sendable {
    /// How publishing retries when no relay accepted.
    public struct PublishPolicy: Sendable, Hashable {
        public var attempts: Int
        public var retryDelay: Duration

        public init(attempts: Int = 3, retryDelay: Duration = .milliseconds(250)) {
            precondition(attempts > 0, "publishing needs at least one attempt")
            self.attempts = attempts
            self.retryDelay = retryDelay
        }
    }

    private struct Member {
        let connection: RelayConnection
        let task: Task<Void, Never>
    }

    private let configuration: RelayConfiguration
    private let publishPolicy: PublishPolicy
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let clock: @Sendable () -> Int64
    private let authenticate: @Sendable (_ challenge: String, _ relay: String) async -> [Event]
    private let deliver: @Sendable (RelayDelivery) -> Void
    private let members = Mutex<[String: Member]>([:])

    public init(
        configuration: RelayConfiguration = .init(),
        publishPolicy: PublishPolicy = .init(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: @escaping @Sendable () -> Int64,
        authenticate: @escaping @Sendable (_ challenge: String, _ relay: String) async -> [Event] = { _, _ in [] },
        deliver: @escaping @Sendable (RelayDelivery) -> Void
    ) {
        self.configuration = configuration
        self.publishPolicy = publishPolicy
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.clock = clock
        self.authenticate = authenticate
        self.deliver = deliver
    }

    /// The relays in the pool.
    public var urls: [String] { self.members.withLock { Array($0.keys) }.sorted() }

    public func connection(for url: String) -> RelayConnection? { self.members.withLock { $0[url]?.connection } }

    /// Connects to `url` (if not already) with `subscriptions`; returns its connection.
    @discardableResult
    public func add(_ url: String, metricsLabel: String, subscriptions: [String: Subscription]) async -> RelayConnection {
        let (connection, isNew) = self.members.withLock { members -> (RelayConnection, Bool) in
            if let member = members[url] { return (member.connection, false) }
            let connection = RelayConnection(
                url: url, configuration: self.configuration, metricsLabel: metricsLabel, logger: self.logger,
                metricsFactory: self.metricsFactory, clock: self.clock, authenticate: self.authenticate, deliver: self.deliver
            )
            members[url] = Member(connection: connection, task: Task { await connection.run() })
            return (connection, true)
        }
        for (id, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) {
            await connection.setSubscription(id: id, subscription)
        }
        if isNew { self.logger.debug("relay added to the pool", metadata: ["relay": "\(url)"]) }
        return connection
    }

    /// Disconnects from `url` and forgets it.
    public func remove(_ url: String) async {
        guard let member = self.members.withLock({ $0.removeValue(forKey: url) }) else { return }
        member.task.cancel()
        await member.task.value
    }

    /// Disconnects from every relay.
    public func shutdown() async {
        let members = self.members.withLock { members in
            defer { members = [:] }
            return Array(members.values)
        }
        for member in members { member.task.cancel() }
        for member in members { await member.task.value }
    }

    /// Sends `event` to every relay of `urls` in the pool, in parallel, and returns as soon as one accepts. Relays
    /// that refuse for a reason that may pass (`rate-limited:`, `auth-required:`, a time-out, a reconnect) are tried
    /// again after a delay, a bounded number of times; a final refusal (`invalid:`, `blocked:`, `mute:` …) is not.
    /// - Returns: the relay that accepted, or `nil` when none did.
    public func publish(_ event: Event, to urls: [String]) async -> String? {
        var pending = Array(Set(urls)).sorted()
        for attempt in 0..<self.publishPolicy.attempts {
            if attempt > 0 {
                do { try await Task.sleep(for: self.publishPolicy.retryDelay * (1 << (attempt - 1))) } catch { return nil }
            }
            let connections = pending.compactMap { self.connection(for: $0) }
            guard !connections.isEmpty else { return nil }
            let (outcomes, continuation) = AsyncStream<(String, PublishOutcome)>.makeStream()
            for connection in connections {
                Task {
                    continuation.yield((connection.url, await connection.publish(event)))
                }
            }
            var retry: [String] = []
            var answered = 0
            for await (url, outcome) in outcomes {
                switch outcome {
                case .accepted:
                    return url
                case .rejected(let rejection, _) where rejection.isRetryable:
                    retry.append(url)
                case .timedOut, .notConnected:
                    retry.append(url)
                case .rejected:
                    break
                }
                answered += 1
                if answered == connections.count { break }
            }
            continuation.finish()
            pending = retry
            if pending.isEmpty { return nil }
        }
        return nil
    }
}
