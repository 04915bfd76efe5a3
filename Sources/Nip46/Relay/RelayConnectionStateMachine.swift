import NostrCrypto
/// The life of one relay connection as a value: the connection task feeds it what happened and does what it says.
/// It holds no I/O, so every transition is tested without a network.
public struct RelayConnectionStateMachine: Sendable {
    /// Where the connection is; also the `state` reported in metrics.
    public enum State: Sendable, Hashable {
        case idle
        case connecting(attempt: Int)
        /// The socket is open and the subscriptions are sent; `pending` still await their first EOSE.
        case connected(pending: Set<String>)
        /// Every subscription has reached EOSE: requests are flowing.
        case subscribed
        case backoff(attempt: Int)
        case stopped

        /// The bounded label used in metrics and logs.
        public var label: String {
            switch self {
            case .idle: "idle"
            case .connecting: "connecting"
            case .connected: "connected"
            case .subscribed: "subscribed"
            case .backoff: "backoff"
            case .stopped: "stopped"
            }
        }
    }

    public enum Action: Sendable, Hashable {
        case connect
        /// Send these subscriptions (REQ) now.
        case subscribe([String])
        /// Wait, then call ``backoffElapsed()``.
        case reconnect(after: Duration)
        /// Answer the relay's NIP-42 challenge.
        case authenticate(challenge: String)
        /// Close the socket; ``disconnected()`` follows.
        case closeConnection
        case none
    }

    public private(set) var state: State = .idle
    private let backoff: Backoff
    private let random: @Sendable () -> Double
    /// Connections in a row that failed or were dropped before every subscription was live: the backoff exponent.
    /// It resets only once the relay delivers EOSE, so a relay that accepts sockets and then refuses the
    /// subscription is not retried at full speed.
    private var failures = 0
    /// Subscriptions the relay closed for want of AUTH; sent again once AUTH is accepted.
    private var awaitingAuthentication: Set<String> = []
    private var challenge: String?

    public init(backoff: Backoff = Backoff(), random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }) {
        self.backoff = backoff
        self.random = random
    }

    public mutating func start() -> Action {
        guard case .idle = self.state else { return .none }
        self.state = .connecting(attempt: 0)
        return .connect
    }

    /// The WebSocket is open; `subscriptions` are the ids to (re)send.
    public mutating func connected(subscriptions: [String]) -> Action {
        guard case .connecting = self.state else { return .none }
        self.awaitingAuthentication = []
        self.challenge = nil
        self.state = subscriptions.isEmpty ? .subscribed : .connected(pending: Set(subscriptions))
        if subscriptions.isEmpty { self.failures = 0 }
        return subscriptions.isEmpty ? .none : .subscribe(subscriptions.sorted())
    }

    /// A subscription added while connected.
    public mutating func subscriptionAdded(_ id: String) -> Action {
        switch self.state {
        case .connected(var pending):
            pending.insert(id)
            self.state = .connected(pending: pending)
            return .subscribe([id])
        case .subscribed:
            self.state = .connected(pending: [id])
            return .subscribe([id])
        default:
            return .none
        }
    }

    public mutating func endOfStoredEvents(subscriptionID: String) {
        guard case .connected(var pending) = self.state else { return }
        pending.remove(subscriptionID)
        self.state = pending.isEmpty ? .subscribed : .connected(pending: pending)
        if pending.isEmpty { self.failures = 0 }
    }

    /// The relay closed a subscription. With `auth-required:` it is sent again after AUTH; otherwise the connection
    /// is recycled through backoff (``Action/closeConnection``), since a signer with a dead subscription answers
    /// nothing.
    public mutating func subscriptionClosed(_ id: String, rejection: RelayRejection) -> Action {
        switch self.state {
        case .connected, .subscribed: break
        default: return .none
        }
        if rejection == .authRequired {
            self.awaitingAuthentication.insert(id)
            if let challenge = self.challenge { return .authenticate(challenge: challenge) }
            return .none
        }
        return .closeConnection
    }

    public mutating func authenticationChallenge(_ challenge: String) -> Action {
        switch self.state {
        case .connected, .subscribed:
            self.challenge = challenge
            return .authenticate(challenge: challenge)
        default:
            return .none
        }
    }

    /// The relay accepted our AUTH event: resend what it refused before.
    public mutating func authenticated() -> Action {
        guard !self.awaitingAuthentication.isEmpty else { return .none }
        let ids = self.awaitingAuthentication.sorted()
        self.awaitingAuthentication = []
        switch self.state {
        case .connected(let pending): self.state = .connected(pending: pending.union(ids))
        case .subscribed: self.state = .connected(pending: Set(ids))
        default: return .none
        }
        return .subscribe(ids)
    }

    /// The connection failed or closed (including a missed pong).
    public mutating func disconnected() -> Action {
        if case .stopped = self.state { return .none }
        let attempt = self.failures
        self.failures += 1
        self.state = .backoff(attempt: attempt)
        return .reconnect(after: self.backoff.delay(attempt: attempt, unit: self.random()))
    }

    public mutating func backoffElapsed() -> Action {
        guard case .backoff(let attempt) = self.state else { return .none }
        self.state = .connecting(attempt: attempt + 1)
        return .connect
    }

    public mutating func stop() {
        self.state = .stopped
    }

    /// Whether events can be published now.
    public var isConnected: Bool {
        switch self.state {
        case .connected, .subscribed: true
        default: false
        }
    }
}
