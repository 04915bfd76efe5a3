import Histogram
import Synchronization

/// When requests are sent.
///
/// Closed loop: each lane sends its next request when the previous one is answered, so a slow server slows the
/// load and hides its own queueing (coordinated omission). Open loop: request *i* is due at `start + i / rate`
/// whatever happens, and its latency is counted from when it was due, not from when a lane got round to it, so time
/// spent waiting for a free connection shows in the figures.
struct Schedule: Sendable {
    /// Requests per second for the open loop; nil for the closed loop.
    let rate: Double?
    /// Not recorded: connections open, the server's caches fill, allocators and thread pools reach their steady size.
    let warmup: Duration
    /// Recorded.
    let duration: Duration
    let start: ContinuousClock.Instant

    var measuredFrom: ContinuousClock.Instant { self.start + self.warmup }
    var end: ContinuousClock.Instant { self.start + self.warmup + self.duration }
}

/// Hands out the open loop's due times, one per request, in order, to whichever lane asks first.
final class Tickets: Sendable {
    private let next = Atomic<Int>(0)
    private let schedule: Schedule

    init(schedule: Schedule) { self.schedule = schedule }

    /// When the next request is due, or nil once the schedule has ended. Closed loop: now.
    func take() -> ContinuousClock.Instant? {
        guard let rate = self.schedule.rate else {
            let now = ContinuousClock.now
            return now < self.schedule.end ? now : nil
        }
        let index = self.next.wrappingAdd(1, ordering: .relaxed).oldValue
        let due = self.schedule.start + .nanoseconds(Int64(Double(index) * 1e9 / rate))
        return due < self.schedule.end ? due : nil
    }

    /// Waits until the next request is due; nil once the schedule has ended. Nothing is due before the start.
    func awaitNext() async -> ContinuousClock.Instant? {
        if self.schedule.start > .now { try? await Task.sleep(until: self.schedule.start, clock: .continuous) }
        guard let due = self.take() else { return nil }
        if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
        return due
    }
}

/// One operation's figures: latencies of the requests whose replies passed the check, and failures by code. Built
/// after the run from what the lanes kept, so recording during the run takes no lock.
struct OperationRecord: Sendable {
    /// Microseconds, 1 µs to 60 s at three significant digits.
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var succeeded = 0
    var errors: [String: Int] = [:]

    mutating func recordSuccess(_ elapsed: Duration) {
        let microseconds = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        _ = self.latency.record(UInt64(clamping: max(1, microseconds)))
        self.succeeded += 1
    }

    mutating func recordFailure(_ code: String) {
        self.errors[code, default: 0] += 1
    }

    mutating func merge(_ other: OperationRecord) {
        self.latency.add(other.latency)
        self.succeeded += other.succeeded
        self.errors.merge(other.errors, uniquingKeysWith: +)
    }
}
