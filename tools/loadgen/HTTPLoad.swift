import NIOHTTP1
import NostrCrypto

/// A reply kept for the after-run check, with when it was due and when it came.
struct PendingReply: Sendable {
    let operation: String
    let latency: Duration
    let check: ReplyCheck
}

/// What a lane brings back: replies to check, and failures already known (HTTP errors, lost connections, time-outs).
struct LaneOutcome: Sendable {
    var pending: [PendingReply] = []
    var failures: [String: [String: Int]] = [:]

    mutating func fail(_ operation: String, _ code: String) {
        self.failures[operation, default: [:]][code, default: 0] += 1
    }
}

/// Which authorization each request uses. Warm: lane *l* cycles through grants *l*, *l* + lanes, *l* + 2 × lanes, …
/// Cold: the same grants, each once, so every request is the first for its authorization since the server started
/// (when the fixture was made before a restart); the lane stops when its grants are used up.
struct GrantPicker: Sendable {
    enum Mode: String, Sendable { case warm, cold }

    let grants: [Grant]
    let mode: Mode

    func grant(lane: Int, lanes: Int, sequence: Int) -> Grant? {
        let share = (self.grants.count - lane + lanes - 1) / lanes
        guard share > 0 else { return nil }
        switch self.mode {
        case .warm: return self.grants[lane + (sequence % share) * lanes]
        case .cold: return sequence < share ? self.grants[lane + sequence * lanes] : nil
        }
    }
}

/// The HTTP RPC under load: `lanes` keep-alive connections, each with one request in flight.
struct HTTPLoad: Sendable {
    /// The methods, and how often each is sent: request *n* of a lane is `mix[n % mix.count]`.
    let mix: [HTTPOperation]
    let server: ServerAddress
    let lanes: Int
    let picker: GrantPicker

    enum HTTPOperation: String, Sendable {
        case signEvent = "sign_event"
        case getPublicKey = "get_public_key"
        case nip44Encrypt = "nip44_encrypt"
    }

    func run(schedule: Schedule) async -> [LaneOutcome] {
        let tickets = Tickets(schedule: schedule)
        // The peer of nip44_encrypt: the load generator holds its secret, so it can open what the server sealed.
        let peer = SecretKey.generate()
        return await withTaskGroup(of: LaneOutcome.self) { group in
            for lane in 0..<self.lanes {
                group.addTask { await self.lane(lane, tickets: tickets, schedule: schedule, peer: peer) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    private func lane(_ lane: Int, tickets: Tickets, schedule: Schedule, peer: SecretKey) async -> LaneOutcome {
        var outcome = LaneOutcome()
        var sequence = 0
        var conversationKeys: [PublicKey: NIP44ConversationKey] = [:]
        var finished = false
        while !finished {
            do {
                try await HTTPConnection.withConnection(to: self.server) { connection in
                    while let due = await tickets.awaitNext() {
                        defer { sequence += 1 }
                        guard let grant = self.picker.grant(lane: lane, lanes: self.lanes, sequence: sequence) else { break }
                        let operation = self.mix[sequence % self.mix.count]
                        let content = "loadgen \(lane)-\(sequence)"
                        let body: String
                        switch operation {
                        case .signEvent:
                            body = #"{"method":"sign_event","params":[{"kind":1,"content":""# + content + #"","tags":[],"created_at":1700000000}]}"#
                        case .getPublicKey:
                            body = #"{"method":"get_public_key","params":[]}"#
                        case .nip44Encrypt:
                            body = #"{"method":"nip44_encrypt","params":[""# + peer.publicKey.hex + #"",""# + content + #""]}"#
                        }
                        let reply: HTTPReply
                        do {
                            reply = try await connection.request(
                                method: .POST, path: "/api/nostr",
                                headers: [("Authorization", "Bearer " + grant.accessToken), ("Content-Type", "application/json")],
                                body: Array(body.utf8)
                            )
                        } catch {
                            if due >= schedule.measuredFrom { outcome.fail(operation.rawValue, "connection_lost") }
                            throw error
                        }
                        guard due >= schedule.measuredFrom else { continue }
                        let latency = due.duration(to: .now)
                        guard reply.status == 200 else {
                            outcome.fail(operation.rawValue, ReplyCheck.httpErrorCode(status: reply.status, body: reply.body))
                            continue
                        }
                        let check: ReplyCheck
                        switch operation {
                        case .signEvent:
                            check = .httpSignedEvent(body: reply.body, user: grant.user, content: content)
                        case .getPublicKey:
                            check = .httpPublicKey(body: reply.body, user: grant.user)
                        case .nip44Encrypt:
                            let key: NIP44ConversationKey
                            if let cached = conversationKeys[grant.user] {
                                key = cached
                            } else {
                                guard let derived = try? NIP44ConversationKey(secretKey: peer, publicKey: grant.user) else {
                                    outcome.fail(operation.rawValue, "invalid_reply")
                                    continue
                                }
                                conversationKeys[grant.user] = derived
                                key = derived
                            }
                            check = .httpNip44(body: reply.body, conversationKey: key, plaintext: content)
                        }
                        outcome.pending.append(PendingReply(operation: operation.rawValue, latency: latency, check: check))
                    }
                }
                finished = true
            } catch {
                // Connecting failed or the connection broke: count it (above) and connect again, unless time is up.
                if ContinuousClock.now >= schedule.end { finished = true } else { try? await Task.sleep(for: .milliseconds(50)) }
            }
        }
        return outcome
    }
}
