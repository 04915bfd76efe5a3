import CoreMetrics
import Logging
import NostrCrypto
import Synchronization
import WSClient

/// Bounds and timings of relay connections.
public struct RelayConfiguration: Sendable, Hashable {
    /// How long opening the socket and the WebSocket upgrade may take.
    public var connectTimeout: Duration
    /// A ping is sent this often; a connection whose pong has not arrived by the next ping is closed, so a dead
    /// socket is noticed within two periods.
    public var pingInterval: Duration
    /// The largest message accepted from a relay; a larger one closes the connection.
    public var maximumMessageBytes: Int
    /// How long a published event waits for the relay's OK.
    public var publishTimeout: Duration
    /// Reconnection delays.
    public var backoff: Backoff

    public init(
        connectTimeout: Duration = .seconds(10),
        pingInterval: Duration = .seconds(20),
        maximumMessageBytes: Int = 512 * 1024,
        publishTimeout: Duration = .seconds(5),
        backoff: Backoff = Backoff()
    ) {
        self.connectTimeout = connectTimeout
        self.pingInterval = pingInterval
        self.maximumMessageBytes = maximumMessageBytes
        self.publishTimeout = publishTimeout
        self.backoff = backoff
    }
}

/// What became of one event sent to one relay.
public enum PublishOutcome: Sendable, Hashable {
    case accepted
    case rejected(RelayRejection, message: String)
    case timedOut
    case notConnected
}

/// A subscription as the connection keeps it: sent again after every reconnect, with `since` recomputed then when
/// `lookback` is set (the filters' own `since` is ignored in that case): now minus the lookback, but never before
/// `notBefore`.
public struct Subscription: Sendable, Hashable {
    public var filters: [Filter]
    public var lookback: Duration?
    /// The earliest `since` (Unix seconds). A signer passes its start time: a relay that stores kind 24133 must not
    /// replay requests a previous run already answered, which the new process has no memory of.
    public var notBefore: Int64?

    public init(filters: [Filter], lookback: Duration? = nil, notBefore: Int64? = nil) {
        self.filters = filters
        self.lookback = lookback
        self.notBefore = notBefore
    }
}

/// An event a relay delivered for one of our subscriptions.
public struct RelayDelivery: Sendable {
    public let relay: String
    public let subscriptionID: String
    public let event: Event
}

/// One relay: keeps a WebSocket open (reconnecting with backoff), keeps its subscriptions live, answers NIP-42
/// challenges, publishes events and reports their OK.
public final class RelayConnection: Sendable {
    public let url: String
    private let configuration: RelayConfiguration
    private let logger: Logger
    private let metrics: RelayMetrics
    private let deliver: @Sendable (RelayDelivery) -> Void
    private let authenticate: @Sendable (_ challenge: String, _ relay: String) async -> [Event]
    private let clock: @Sendable () -> Int64
    private let shared: Mutex<Shared>

    private struct Shared {
        var machine: RelayConnectionStateMachine
        var writer: WebSocketOutboundWriter?
        var subscriptions: [String: Subscription] = [:]
        var pendingPublishes: [EventID: [PendingPublish]] = [:]
        var authenticationEvents: Set<EventID> = []
        var nextPublishToken: UInt64 = 0
    }

    private struct PendingPublish {
        let token: UInt64
        let continuation: CheckedContinuation<PublishOutcome, Never>
        /// Resolves the publish as timed out unless the OK comes first.
        var timer: Task<Void, Never>?
    }

    /// - Parameters:
    ///   - metricsLabel: the `relay` label in metrics; keep the set of labels bounded (configured relays by URL,
    ///     relays named by apps under one shared label).
    ///   - deliver: called for every event of our subscriptions, on the connection's task; it must not block.
    ///   - authenticate: signed kind-22242 events answering a NIP-42 challenge (none: do not authenticate).
    public init(
        url: String,
        configuration: RelayConfiguration = .init(),
        metricsLabel: String,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        clock: @escaping @Sendable () -> Int64,
        authenticate: @escaping @Sendable (_ challenge: String, _ relay: String) async -> [Event] = { _, _ in [] },
        deliver: @escaping @Sendable (RelayDelivery) -> Void
    ) {
        self.url = url
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "relay"] = "\(url)"
        self.logger = logger
        self.metrics = RelayMetrics(relay: metricsLabel, factory: metricsFactory)
        self.deliver = deliver
        self.authenticate = authenticate
        self.clock = clock
        self.shared = Mutex(Shared(machine: RelayConnectionStateMachine(backoff: configuration.backoff)))
    }

    /// The connection's state now.
    public var state: RelayConnectionStateMachine.State { self.shared.withLock { $0.machine.state } }

    /// Keeps the connection up until the task is cancelled.
    public func run() async {
        var action = self.shared.withLock { $0.machine.start() }
        self.metrics.record(state: self.state)
        while !Task.isCancelled {
            switch action {
            case .connect:
                await self.connectAndServe()
                action = self.shared.withLock { shared in
                    shared.writer = nil
                    shared.authenticationEvents = []
                    Self.failPending(&shared, with: .notConnected)
                    return shared.machine.disconnected()
                }
            case .reconnect(let delay):
                self.metrics.record(state: self.state)
                self.metrics.reconnects.increment()
                do { try await Task.sleep(for: delay) } catch { break }
                action = self.shared.withLock { $0.machine.backoffElapsed() }
            case .subscribe, .authenticate, .closeConnection, .none:
                // The others are only produced while connected, and handled there; `.none` here means stopped.
                return self.finish()
            }
            self.metrics.record(state: self.state)
        }
        self.finish()
    }

    private func finish() {
        self.shared.withLock { shared in
            shared.machine.stop()
            shared.writer = nil
            Self.failPending(&shared, with: .notConnected)
        }
        self.metrics.record(state: .stopped)
    }

    /// Adds or replaces a subscription; sent at once when connected, and after every reconnect.
    public func setSubscription(id: String, _ subscription: Subscription) async {
        let (writer, action) = self.shared.withLock { shared in
            shared.subscriptions[id] = subscription
            return (shared.writer, shared.machine.subscriptionAdded(id))
        }
        if let writer, case .subscribe(let ids) = action {
            await self.sendSubscriptions(ids, writer: writer)
        }
    }

    /// Removes a subscription (CLOSE is sent when connected).
    public func removeSubscription(id: String) async {
        let writer = self.shared.withLock { shared in
            shared.subscriptions.removeValue(forKey: id) == nil ? nil : shared.writer
        }
        if let writer { try? await writer.write(.text(ClientMessage.close(subscriptionID: id).encoded())) }
    }

    /// Sends `event` and waits for the relay's OK (or the publish time-out).
    public func publish(_ event: Event) async -> PublishOutcome {
        guard let writer = self.shared.withLock({ $0.machine.isConnected ? $0.writer : nil }) else { return .notConnected }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<PublishOutcome, Never>) in
            let token = self.shared.withLock { shared in
                shared.nextPublishToken &+= 1
                shared.pendingPublishes[event.id, default: []].append(PendingPublish(token: shared.nextPublishToken, continuation: continuation))
                return shared.nextPublishToken
            }
            // The write is never cancelled (cancelling the WebSocket writer mid-write closes the connection); the
            // timer is a task of its own, cancelled when the OK arrives, so an answered publish leaves none behind.
            let timer = Task {
                do { try await Task.sleep(for: self.configuration.publishTimeout) } catch { return }
                self.resolve(event.id, token: token, with: .timedOut)
            }
            self.shared.withLock { shared in
                guard let index = shared.pendingPublishes[event.id]?.firstIndex(where: { $0.token == token }) else {
                    timer.cancel()
                    return
                }
                shared.pendingPublishes[event.id]?[index].timer = timer
            }
            Task {
                do {
                    try await writer.write(.text(ClientMessage.event(event).encoded()))
                } catch {
                    self.resolve(event.id, token: token, with: .notConnected)
                }
            }
        }
        switch outcome {
        case .accepted: self.metrics.eventsPublished.increment()
        case .rejected(let rejection, _): self.metrics.rejection(rejection).increment()
        case .timedOut: self.metrics.publishTimeouts.increment()
        case .notConnected: break
        }
        return outcome
    }

    // MARK: Connection

    private func connectAndServe() async {
        let upgraded = UpgradedFlag()
        do {
            let closed = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    let client = WebSocketClient(
                        url: self.url,
                        configuration: WebSocketClientConfiguration(
                            maxFrameSize: self.configuration.maximumMessageBytes,
                            autoPing: .enabled(timePeriod: self.configuration.pingInterval),
                            validateUTF8: true
                        ),
                        logger: self.logger
                    ) { inbound, outbound, _ in
                        upgraded.set()
                        try await self.serve(inbound: inbound, outbound: outbound)
                    }
                    let frame = try await client.run()
                    return frame.map { "\($0.closeCode) \(LogText.truncated($0.reason ?? ""))" } ?? "without a close frame"
                }
                group.addTask {
                    try await Task.sleep(for: self.configuration.connectTimeout)
                    if !upgraded.isSet { throw RelayConnectionError.connectTimedOut }
                    try await Task.sleep(for: .seconds(365 * 86_400))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            self.logger.info("relay connection closed", metadata: ["close": "\(closed ?? "")"])
        } catch is CancellationError {
        } catch {
            self.logger.warning("relay connection failed", metadata: ["error": "\(LogText.truncated("\(error)", maximumCharacters: 200))"])
        }
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let (action, subscriptions) = self.shared.withLock { shared in
            shared.writer = outbound
            return (shared.machine.connected(subscriptions: Array(shared.subscriptions.keys)), shared.subscriptions.count)
        }
        self.metrics.record(state: self.state)
        self.logger.info("relay connected", metadata: ["subscriptions": "\(subscriptions)"])
        try await self.perform(action, outbound: outbound)
        for try await message in inbound.messages(maxSize: self.configuration.maximumMessageBytes) {
            guard case .text(let text) = message else { continue }
            let parsed: RelayMessage
            do {
                parsed = try RelayMessage(text: text)
            } catch {
                self.metrics.malformedMessages.increment()
                self.logger.debug("relay sent a message we do not understand", metadata: ["error": "\(error)"])
                continue
            }
            try await self.handle(parsed, outbound: outbound)
        }
    }

    private func handle(_ message: RelayMessage, outbound: WebSocketOutboundWriter) async throws {
        switch message {
        case .event(let subscriptionID, let event):
            self.metrics.eventsReceived.increment()
            self.deliver(RelayDelivery(relay: self.url, subscriptionID: subscriptionID, event: event))
        case .ok(let eventID, let accepted, let text):
            let wasAuthentication = self.shared.withLock { $0.authenticationEvents.remove(eventID) != nil }
            if wasAuthentication {
                if accepted {
                    self.logger.info("relay accepted AUTH")
                    try await self.perform(self.shared.withLock { $0.machine.authenticated() }, outbound: outbound)
                } else {
                    self.logger.warning("relay refused AUTH", metadata: ["message": "\(LogText.truncated(text))"])
                }
                return
            }
            let rejection = RelayRejection(message: text)
            if !accepted, rejection == .mute {
                // NIP-01: nobody listens for this ephemeral event right now. Not an error of ours; do not retry.
                self.logger.debug("relay muted an event", metadata: ["event": "\(eventID)"])
            }
            self.resolveAll(eventID, with: accepted ? .accepted : .rejected(rejection, message: LogText.truncated(text)))
        case .endOfStoredEvents(let subscriptionID):
            self.shared.withLock { $0.machine.endOfStoredEvents(subscriptionID: subscriptionID) }
            self.metrics.record(state: self.state)
        case .closed(let subscriptionID, let text):
            let rejection = RelayRejection(message: text)
            self.logger.warning(
                "relay closed a subscription", metadata: ["subscription": "\(subscriptionID)", "message": "\(LogText.truncated(text))"]
            )
            try await self.perform(self.shared.withLock { $0.machine.subscriptionClosed(subscriptionID, rejection: rejection) }, outbound: outbound)
        case .notice(let text):
            self.logger.notice("relay notice", metadata: ["message": "\(LogText.truncated(text))"])
        case .auth(let challenge):
            try await self.perform(self.shared.withLock { $0.machine.authenticationChallenge(challenge) }, outbound: outbound)
        }
    }

    private func perform(_ action: RelayConnectionStateMachine.Action, outbound: WebSocketOutboundWriter) async throws {
        switch action {
        case .subscribe(let ids):
            await self.sendSubscriptions(ids, writer: outbound)
        case .authenticate(let challenge):
            let events = await self.authenticate(challenge, self.url)
            self.shared.withLock { shared in
                for event in events { shared.authenticationEvents.insert(event.id) }
            }
            for event in events {
                try await outbound.write(.text(ClientMessage.auth(event).encoded()))
            }
        case .closeConnection:
            throw RelayConnectionError.subscriptionRefused
        case .connect, .reconnect, .none:
            break
        }
    }

    private func sendSubscriptions(_ ids: [String], writer: WebSocketOutboundWriter) async {
        let now = self.clock()
        let messages: [String] = self.shared.withLock { shared in
            ids.compactMap { id in
                guard let subscription = shared.subscriptions[id] else { return nil }
                var filters = subscription.filters
                if let lookback = subscription.lookback {
                    let since = max(now &- lookback.components.seconds, subscription.notBefore ?? .min)
                    for index in filters.indices { filters[index].since = since }
                }
                return ClientMessage.request(subscriptionID: id, filters: filters).encoded()
            }
        }
        for message in messages {
            // A failed write means the socket is going away; the reconnect sends the subscriptions again.
            try? await writer.write(.text(message))
        }
    }

    // MARK: Pending publishes

    private func resolve(_ eventID: EventID, token: UInt64, with outcome: PublishOutcome) {
        let publish: PendingPublish? = self.shared.withLock { shared in
            guard var pending = shared.pendingPublishes[eventID], let index = pending.firstIndex(where: { $0.token == token }) else { return nil }
            let removed = pending.remove(at: index)
            shared.pendingPublishes[eventID] = pending.isEmpty ? nil : pending
            return removed
        }
        publish?.timer?.cancel()
        publish?.continuation.resume(returning: outcome)
    }

    private func resolveAll(_ eventID: EventID, with outcome: PublishOutcome) {
        let pending = self.shared.withLock { $0.pendingPublishes.removeValue(forKey: eventID) } ?? []
        for publish in pending {
            publish.timer?.cancel()
            publish.continuation.resume(returning: outcome)
        }
    }

    private static func failPending(_ shared: inout Shared, with outcome: PublishOutcome) {
        let pending = shared.pendingPublishes.values.flatMap { $0 }
        shared.pendingPublishes = [:]
        for publish in pending {
            publish.timer?.cancel()
            publish.continuation.resume(returning: outcome)
        }
    }
}

/// Set once the WebSocket upgrade has completed, so the connect watchdog stands down.
private final class UpgradedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { self.value.store(true, ordering: .releasing) }
    var isSet: Bool { self.value.load(ordering: .acquiring) }
}

struct RelayConnectionError: Error, CustomStringConvertible {
    let description: String
    static let connectTimedOut = RelayConnectionError(description: "connecting timed out")
    static let subscriptionRefused = RelayConnectionError(description: "the relay closed our subscription")
}

/// The per-relay metrics.
struct RelayMetrics: Sendable {
    let eventsReceived: Counter
    let eventsPublished: Counter
    let publishTimeouts: Counter
    let reconnects: Counter
    let malformedMessages: Counter
    private let rejections: [RelayRejection: Counter]
    private let states: [String: Gauge]

    static let stateLabels = ["idle", "connecting", "connected", "subscribed", "backoff", "stopped"]

    init(relay: String, factory: any MetricsFactory) {
        let dimensions = [("relay", relay)]
        self.eventsReceived = Counter(label: "signer_relay_events_received_total", dimensions: dimensions, factory: factory)
        self.eventsPublished = Counter(label: "signer_relay_events_published_total", dimensions: dimensions, factory: factory)
        self.publishTimeouts = Counter(label: "signer_relay_publish_timeouts_total", dimensions: dimensions, factory: factory)
        self.reconnects = Counter(label: "signer_relay_reconnects_total", dimensions: dimensions, factory: factory)
        self.malformedMessages = Counter(label: "signer_relay_malformed_messages_total", dimensions: dimensions, factory: factory)
        var rejections: [RelayRejection: Counter] = [:]
        for reason in RelayRejection.allCases {
            rejections[reason] = Counter(
                label: "signer_relay_ok_rejections_total", dimensions: dimensions + [("reason", reason.rawValue)], factory: factory
            )
        }
        self.rejections = rejections
        var states: [String: Gauge] = [:]
        for state in Self.stateLabels {
            states[state] = Gauge(label: "signer_relay_state", dimensions: dimensions + [("state", state)], factory: factory)
        }
        self.states = states
    }

    func rejection(_ reason: RelayRejection) -> Counter { self.rejections[reason]! }

    /// One-hot: the current state's gauge is 1, the others 0.
    func record(state: RelayConnectionStateMachine.State) {
        for (label, gauge) in self.states { gauge.record(label == state.label ? 1 : 0) }
    }
}
