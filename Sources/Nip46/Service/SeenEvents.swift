import NostrCrypto
import Synchronization

/// Event ids seen recently, so the same request delivered by several relays (or twice by one) is handled once.
/// Bounded in both size and age: the oldest ids go first when it is full.
public final class SeenEvents: Sendable {
    private struct State {
        var expiry: [EventID: Int64] = [:]
        var order: [(id: EventID, expiresAt: Int64)] = []
        var head = 0
    }

    private let capacity: Int
    private let timeToLive: Int64
    private let state = Mutex(State())

    public init(capacity: Int = 100_000, timeToLive seconds: Int64 = 600) {
        precondition(capacity > 0 && seconds > 0, "the seen-event set needs room and a lifetime")
        self.capacity = capacity
        self.timeToLive = seconds
    }

    public func contains(_ id: EventID, now: Int64) -> Bool {
        self.state.withLock { state in
            guard let expiresAt = state.expiry[id] else { return false }
            return expiresAt > now
        }
    }

    /// Records `id`; `false` if it was already there (a duplicate).
    public func insert(_ id: EventID, now: Int64) -> Bool {
        self.state.withLock { state in
            Self.expire(&state, now: now, capacity: self.capacity)
            if let expiresAt = state.expiry[id], expiresAt > now { return false }
            let expiresAt = now.addingReportingOverflow(self.timeToLive).partialValue
            state.expiry[id] = expiresAt
            state.order.append((id, expiresAt))
            return true
        }
    }

    public var count: Int { self.state.withLock { $0.expiry.count } }

    private static func expire(_ state: inout State, now: Int64, capacity: Int) {
        while state.head < state.order.count {
            let oldest = state.order[state.head]
            guard oldest.expiresAt <= now || state.expiry.count >= capacity else { break }
            if state.expiry[oldest.id] == oldest.expiresAt { state.expiry[oldest.id] = nil }
            state.head += 1
        }
        // Compact the order log once its dead prefix dominates.
        if state.head > 1024, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.head = 0
        }
    }
}
