import struct Foundation.Date
import Logging
import Metrics
import Nip46
import NostrCrypto
import Synchronization

/// NIP-46 `sign_event` through a relay: `apps` simulated apps, each with its own client key, its own WebSocket
/// connection and one request in flight, as real apps are.
struct Nip46Load: Sendable {
    let relay: String
    let apps: Int
    let picker: GrantPicker
    let timeout: Duration
    let logger: Logger

    /// Replies arrive on the relay connection's task; the app's lane waits for them here.
    final class Inbox: Sendable {
        private struct State {
            var early: [Event] = []
            /// Replies that came when none was awaited: late answers to requests that timed out, or second answers.
            var unclaimed: [Event] = []
            var waiter: (continuation: CheckedContinuation<Event?, Never>, deadline: ContinuousClock.Instant)?
        }

        private let state = Mutex(State())

        func deliver(_ event: Event) {
            let waiter = self.state.withLock { state in
                guard let waiter = state.waiter else {
                    state.early.append(event)
                    return nil as CheckedContinuation<Event?, Never>?
                }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: event)
        }

        /// Sets aside replies that came before this request was sent, so they cannot pass for its answer.
        func setAsideEarly() {
            self.state.withLock { state in
                state.unclaimed += state.early
                state.early.removeAll()
            }
        }

        /// Every reply no request took, once the run is over.
        func takeUnclaimed() -> [Event] {
            self.state.withLock { state in
                defer {
                    state.unclaimed.removeAll()
                    state.early.removeAll()
                }
                return state.unclaimed + state.early
            }
        }

        /// The next reply, or nil when none came before `deadline`.
        func next(deadline: ContinuousClock.Instant) async -> Event? {
            await withCheckedContinuation { continuation in
                let ready = self.state.withLock { state -> Event? in
                    if !state.early.isEmpty { return state.early.removeFirst() }
                    state.waiter = (continuation, deadline)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        /// Gives up on a wait whose deadline has passed.
        func expire(now: ContinuousClock.Instant) {
            let expired = self.state.withLock { state -> CheckedContinuation<Event?, Never>? in
                guard let waiter = state.waiter, waiter.deadline <= now else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            expired?.resume(returning: nil)
        }
    }

    /// One app: a client key (every grant it uses is pinned to it) and its relay connection.
    struct App: Sendable {
        let client: SecretKey
        let inbox: Inbox
        let connection: RelayConnection
    }

    func run(schedule: Schedule, metricsFactory: any MetricsFactory) async throws -> [LaneOutcome] {
        // Grants made for NIP-46 are pinned to one of `apps` client keys, grant *i* to key *i* mod `apps` (see
        // ``Grants/create``), so app *l* owns the key of grant *l* and every grant the picker hands lane *l*.
        let grants = self.picker.grants
        guard grants.count >= self.apps, grants.allSatisfy({ $0.client != nil && $0.bunker != nil }) else {
            throw LoadGenError("the NIP-46 scenarios need at least --apps grants made with --relay (nostrconnect, pinned to a client key)")
        }
        for (index, grant) in grants.enumerated() where grant.client!.publicKey != grants[index % self.apps].client!.publicKey {
            throw LoadGenError("the fixture's grants were made for another number of apps; make them again with --apps \(self.apps)")
        }
        let apps = (0..<self.apps).map { index -> App in
            let inbox = Inbox()
            let connection = RelayConnection(
                url: self.relay, metricsLabel: "loadgen", logger: self.logger, metricsFactory: metricsFactory, clock: Self.unixNow
            ) { inbox.deliver($0.event) }
            return App(client: grants[index].client!, inbox: inbox, connection: connection)
        }
        let tasks = apps.map { app in Task { await app.connection.run() } }
        defer { for task in tasks { task.cancel() } }
        for app in apps {
            await app.connection.setSubscription(
                id: "replies", Subscription(filters: [Filter(kinds: [nip46EventKind], pTags: [app.client.publicKey.hex])], notBefore: Self.unixNow())
            )
        }
        let subscribed = ContinuousClock.now + .seconds(10)
        while apps.contains(where: { $0.connection.state != .subscribed }) {
            guard ContinuousClock.now < subscribed else { throw LoadGenError("could not subscribe on \(self.relay) within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }

        let tickets = Tickets(schedule: schedule)
        let reaper = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                let now = ContinuousClock.now
                for app in apps { app.inbox.expire(now: now) }
            }
        }
        defer { reaper.cancel() }
        let lanes = await withTaskGroup(of: (Int, LaneResult).self) { group in
            for (index, app) in apps.enumerated() {
                group.addTask { (index, await self.lane(index, app: app, tickets: tickets, schedule: schedule)) }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        // A second answer to a request may come after the lane has moved on, or after the run: wait for stragglers,
        // then count every request answered more than once (in a cluster, by two instances).
        try await Task.sleep(for: .seconds(1))
        return apps.indices.map { index in
            var result = lanes[index]!
            for event in apps[index].inbox.takeUnclaimed() {
                guard let key = result.conversationKeys[event.pubkey], let text = try? NIP44.decrypt(event.content, conversationKey: key),
                    let response = try? Nip46Response(json: text), result.answered.contains(response.id)
                else { continue }
                result.outcome.fail("nip46_sign_event", "duplicate_reply")
            }
            return result.outcome
        }
    }

    /// A lane's outcome, and what is needed afterwards to recognise a second answer to one of its requests.
    private struct LaneResult: Sendable {
        var outcome = LaneOutcome()
        /// Measured requests that got an answer.
        var answered: Set<String> = []
        var conversationKeys: [PublicKey: NIP44ConversationKey] = [:]
    }

    private func lane(_ lane: Int, app: App, tickets: Tickets, schedule: Schedule) async -> LaneResult {
        var result = LaneResult()
        var sequence = 0
        let operation = "nip46_sign_event"
        while let due = await tickets.awaitNext() {
            defer { sequence += 1 }
            guard let grant = self.picker.grant(lane: lane, lanes: self.apps, sequence: sequence), let bunker = grant.bunker else { break }
            let measured = due >= schedule.measuredFrom
            let requestID = "\(lane)-\(sequence)"
            let content = "loadgen nip46 \(requestID)"
            let request: Event
            let key: NIP44ConversationKey
            do {
                if let cached = result.conversationKeys[bunker] {
                    key = cached
                } else {
                    key = try NIP44ConversationKey(secretKey: app.client, publicKey: bunker)
                    result.conversationKeys[bunker] = key
                }
                let note = #"{"kind":1,"content":""# + content + #"","tags":[],"created_at":"# + String(Self.unixNow()) + "}"
                let payload = try NIP44.encrypt(Nip46Request(id: requestID, method: "sign_event", params: [note]).encoded(), conversationKey: key)
                request = try UnsignedEvent(createdAt: Self.unixNow(), kind: nip46EventKind, tags: [["p", bunker.hex]], content: payload).signed(with: app.client)
            } catch {
                if measured { result.outcome.fail(operation, "request_not_built") }
                continue
            }
            app.inbox.setAsideEarly()
            let published = await app.connection.publish(request)
            guard published == .accepted else {
                if measured { result.outcome.fail(operation, Self.code(published)) }
                continue
            }
            guard let reply = await app.inbox.next(deadline: due + self.timeout) else {
                if measured { result.outcome.fail(operation, "timeout") }
                continue
            }
            guard measured else { continue }
            result.answered.insert(requestID)
            result.outcome.pending.append(
                PendingReply(
                    operation: operation, latency: due.duration(to: .now),
                    check: .nip46SignedEvent(reply: reply, bunker: bunker, conversationKey: key, requestID: requestID, user: grant.user, content: content)
                )
            )
        }
        return result
    }

    private static func code(_ outcome: PublishOutcome) -> String {
        switch outcome {
        case .accepted: "accepted"
        case .rejected(let reason, _): "relay_rejected_\(reason)"
        case .timedOut: "relay_publish_timeout"
        case .notConnected: "relay_not_connected"
        }
    }

    @Sendable static func unixNow() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
