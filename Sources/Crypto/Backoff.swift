/// Exponential backoff with jitter: attempt n waits a random time in [base·2ⁿ / 2, base·2ⁿ], capped, so a relay or a
/// Redis that drops many clients at once is not hit by all of them in the same instant when it comes back. (Not
/// cryptography; it lives in this target because every other target depends on it.)
public struct Backoff: Sendable, Hashable {
    public var base: Duration
    public var maximum: Duration

    public init(base: Duration = .milliseconds(250), maximum: Duration = .seconds(30)) {
        precondition(base > .zero && maximum >= base, "backoff bounds must be positive and ordered")
        self.base = base
        self.maximum = maximum
    }

    /// The delay before attempt `attempt` (0 for the first retry), with `unit` in [0, 1] choosing within the window.
    public func delay(attempt: Int, unit: Double) -> Duration {
        let exponent = min(max(attempt, 0), 30)
        let ceiling = min(self.base * (1 << exponent), self.maximum)
        let fraction = 0.5 + 0.5 * min(max(unit, 0), 1)
        return ceiling * fraction
    }

    /// The delay before attempt `attempt` with system randomness.
    public func delay(attempt: Int) -> Duration {
        self.delay(attempt: attempt, unit: Double.random(in: 0...1))
    }
}
