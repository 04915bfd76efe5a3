import DequeModule
import NostrCrypto
import Synchronization

/// Which requests this instance answers, when several instances listen to the same relays. Nip46 declares it; the
/// daemon implements it over the cluster's ring. Without one, the service answers every request it can.
public protocol RequestOwnership: Sendable {
    /// Whether this instance answers requests to `bunker` now; called for every event, so in memory.
    func owns(_ bunker: PublicKey) -> Bool
    /// Claims the request with this event id for this instance: `false` when another instance already has it (the
    /// ring changed while the request was on its way to both).
    func claim(_ eventID: EventID) async -> Bool
}

/// Requests another instance owned when they arrived, kept for a short while: if that instance leaves or dies
/// before answering, the ring hands its bunkers over and the new owner answers them from here (its claim keeps it
/// from answering any the old owner already did). Bounded in age and in count.
final class DeclinedRequests: Sendable {
    struct Entry: Sendable {
        let job: Nip46Service.Job
        let receivedAt: ContinuousClock.Instant
    }

    private struct State {
        var entries = Deque<Entry>()
        var ids = Set<EventID>()
    }

    let window: Duration
    let capacity: Int
    private let state = Mutex(State())

    init(window: Duration, capacity: Int) {
        self.window = window
        self.capacity = capacity
    }

    func insert(_ job: Nip46Service.Job, at now: ContinuousClock.Instant) {
        guard self.capacity > 0 else { return }
        self.state.withLock { state in
            Self.trim(&state, now: now, window: self.window)
            guard state.ids.insert(job.event.id).inserted else { return }
            if state.entries.count == self.capacity, let oldest = state.entries.popFirst() { state.ids.remove(oldest.job.event.id) }
            state.entries.append(Entry(job: job, receivedAt: now))
        }
    }

    /// Removes and returns the requests still within the window that `isOwned` now says are ours.
    func takeOwned(at now: ContinuousClock.Instant, _ isOwned: (PublicKey) -> Bool) -> [Nip46Service.Job] {
        self.state.withLock { state in
            Self.trim(&state, now: now, window: self.window)
            var taken: [Nip46Service.Job] = []
            var kept = Deque<Entry>()
            for entry in state.entries {
                if isOwned(entry.job.bunker) {
                    taken.append(entry.job)
                    state.ids.remove(entry.job.event.id)
                } else {
                    kept.append(entry)
                }
            }
            state.entries = kept
            return taken
        }
    }

    private static func trim(_ state: inout State, now: ContinuousClock.Instant, window: Duration) {
        while let first = state.entries.first, now - first.receivedAt > window {
            state.entries.removeFirst()
            state.ids.remove(first.job.event.id)
        }
    }
}
