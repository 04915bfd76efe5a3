import Synchronization

/// Per-authorization rate limits (a policy's per-minute and per-day counts).
///
/// Each window uses the sliding-window-counter estimate: the count of the current fixed window plus the previous
/// window's count weighted by how much of it still overlaps the sliding window. It needs two counters per window,
/// never lets a burst at a window boundary double the limit (as plain fixed windows do), and is exact enough for
/// abuse control. Memory is bounded: at most `maximumTrackedKeys` authorizations are tracked, and when full the least
/// recently seen one is forgotten.
public final class RateLimiter: Sendable {
    public struct Limits: Sendable, Hashable {
        public var perMinute: Int?
        public var perDay: Int?

        public init(perMinute: Int? = nil, perDay: Int? = nil) {
            self.perMinute = perMinute
            self.perDay = perDay
        }
    }

    public enum Decision: Sendable, Hashable {
        case allowed
        case limited(retryAfter: Duration)
    }

    private struct Window {
        let length: Double
        var start: Double = 0
        var current: Double = 0
        var previous: Double = 0

        /// Moves the window forward to `now` and returns the sliding estimate of requests in the last `length`.
        mutating func estimate(at now: Double) -> Double {
            let elapsedWindows = ((now - self.start) / self.length).rounded(.down)
            if elapsedWindows >= 2 {
                self.previous = 0
                self.current = 0
                self.start = now
            } else if elapsedWindows >= 1 {
                self.previous = self.current
                self.current = 0
                self.start += self.length
            }
            let overlap = 1 - (now - self.start) / self.length
            return self.previous * overlap + self.current
        }

        /// How long until one more request fits under `limit` (`limit` ≥ 1), assuming no other requests meanwhile.
        func retryAfter(at now: Double, limit: Double) -> Double {
            let when: Double
            if self.current + 1 <= limit {
                // Room in this window: wait until enough of the previous window has slid out.
                when = self.start + self.length * (1 - (limit - 1 - self.current) / self.previous)
            } else {
                // This window is full: it becomes the previous one, and must slide out far enough.
                when = self.start + self.length + self.length * (1 - (limit - 1) / self.current)
            }
            return max(when - now, 0.001)
        }
    }

    private struct Entry {
        var minute = Window(length: 60)
        var day = Window(length: 86_400)
        var lastSeen: Double = 0
    }

    private let maximumTrackedKeys: Int
    private let now: @Sendable () -> Double
    private let entries = Mutex<[CompactID: Entry]>([:])

    /// - Parameter now: seconds on a monotonic clock (injectable for tests).
    public init(maximumTrackedKeys: Int = 100_000, now: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds) {
        precondition(maximumTrackedKeys > 0, "must track at least one key")
        self.maximumTrackedKeys = maximumTrackedKeys
        self.now = now
    }

    /// Seconds since the first call, on the monotonic clock.
    public static func monotonicSeconds() -> Double {
        let elapsed = Self.reference.duration(to: ContinuousClock.now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    private static let reference = ContinuousClock.now

    /// Counts one request for `key` if it is within `limits`.
    public func acquire(key: CompactID, limits: Limits) -> Decision {
        guard limits.perMinute != nil || limits.perDay != nil else { return .allowed }
        let now = self.now()
        return self.entries.withLock { entries in
            if entries[key] == nil, entries.count >= self.maximumTrackedKeys,
                let stalest = entries.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key
            {
                entries[stalest] = nil
            }
            var entry = entries[key] ?? Entry(minute: Window(length: 60, start: now), day: Window(length: 86_400, start: now))
            entry.lastSeen = now
            let minuteEstimate = entry.minute.estimate(at: now)
            let dayEstimate = entry.day.estimate(at: now)
            var wait = 0.0
            if let perMinute = limits.perMinute, minuteEstimate + 1 > Double(perMinute) {
                wait = max(wait, entry.minute.retryAfter(at: now, limit: Double(perMinute)))
            }
            if let perDay = limits.perDay, dayEstimate + 1 > Double(perDay) {
                wait = max(wait, entry.day.retryAfter(at: now, limit: Double(perDay)))
            }
            if wait > 0 {
                entries[key] = entry
                return .limited(retryAfter: .milliseconds(Int64((wait * 1000).rounded(.up))))
            }
            entry.minute.current += 1
            entry.day.current += 1
            entries[key] = entry
            return .allowed
        }
    }

    /// Forgets `key` (its authorization was revoked).
    public func reset(key: CompactID) {
        _ = self.entries.withLock { $0.removeValue(forKey: key) }
    }

    public var trackedKeys: Int { self.entries.withLock { $0.count } }
}
