/// Fails calls fast while a dependency (a KMS) is down, so a dead service costs each request nothing instead of a
/// full round of time-outs and retries.
///
/// A value: its owner keeps it under a lock, asks ``admit(now:)`` before a call and reports the outcome.
/// `closed` counts consecutive failures; at `failureThreshold` it opens for `openDuration`; then one caller gets a
/// probe (`halfOpen`) whose outcome closes or re-opens it. Outcomes that prove the service answered (a refused
/// ciphertext, say) count as successes: the breaker measures reachability, not correctness.
struct CircuitBreaker: Sendable, Equatable {
    enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen
    }

    enum Admission: Sendable, Equatable {
        /// Call as usual.
        case proceed
        /// Call: this is the one trial after the open period; report its outcome.
        case probe
        /// Do not call; the breaker is open (until the instant, or while a probe is in flight).
        case reject(retryAfter: ContinuousClock.Instant?)
    }

    let failureThreshold: Int
    let openDuration: Duration
    private(set) var state = State.closed(consecutiveFailures: 0)

    init(failureThreshold: Int, openDuration: Duration) {
        precondition(failureThreshold > 0, "a breaker needs at least one failure to open")
        self.failureThreshold = failureThreshold
        self.openDuration = openDuration
    }

    var isOpen: Bool {
        if case .closed = self.state { return false }
        return true
    }

    mutating func admit(now: ContinuousClock.Instant) -> Admission {
        switch self.state {
        case .closed:
            return .proceed
        case .open(let until) where now >= until:
            self.state = .halfOpen
            return .probe
        case .open(let until):
            return .reject(retryAfter: until)
        case .halfOpen:
            return .reject(retryAfter: nil)
        }
    }

    mutating func recordSuccess() {
        self.state = .closed(consecutiveFailures: 0)
    }

    mutating func recordFailure(now: ContinuousClock.Instant) {
        switch self.state {
        case .closed(let failures) where failures + 1 < self.failureThreshold:
            self.state = .closed(consecutiveFailures: failures + 1)
        case .closed, .open, .halfOpen:
            self.state = .open(until: now + self.openDuration)
        }
    }

    /// A probe ended without an outcome (its task was cancelled): let the next caller probe at once.
    mutating func recordAbandonedProbe(now: ContinuousClock.Instant) {
        if case .halfOpen = self.state { self.state = .open(until: now) }
    }
}
