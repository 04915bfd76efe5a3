import Foundation
import Logging
import MetricsTestKit
import NostrCrypto
import Synchronization
import Testing

@testable import Nip46

/// The service without a network: events go in through `ingest`, replies are captured where they would be published.
struct Nip46ServiceTests {
    let keys = InMemoryBunkerKeys()
    let client = SecretKey.generate()
    let metrics = TestMetrics()
    let replies = ReplyLog()
    let now: Int64 = 1_700_000_000

    func service(queueCapacity: Int = 16, workers: Int = 1, ownership: (any RequestOwnership)? = nil, declinedWindow: Duration = .seconds(10)) -> Nip46Service {
        let replies = self.replies
        let now = self.now
        return Nip46Service(
            configuration: Nip46ServiceConfiguration(
                relays: ["ws://daemon"], workers: workers, queueCapacity: queueCapacity, declinedRequestWindow: declinedWindow
            ),
            keys: self.keys, logger: Logger(label: "test"), metricsFactory: self.metrics, ownership: ownership, clock: { now },
            publisher: { event, relays in
                replies.append(event, relays)
                return relays.first
            }
        )
    }

    func request(_ json: String, createdAt: Int64? = nil, scheme: String = "nip44", to bunker: PublicKey? = nil) throws -> Event {
        let bunker = bunker ?? self.keys.session.bunkerKey.publicKey
        let content = scheme == "nip04"
            ? try NIP04.encrypt(json, secretKey: self.client, publicKey: bunker)
            : try NIP44.encrypt(json, conversationKey: NIP44ConversationKey(secretKey: self.client, publicKey: bunker))
        return try UnsignedEvent(createdAt: createdAt ?? self.now, kind: 24133, tags: [["p", bunker.hex]], content: content).signed(with: self.client)
    }

    func deliver(_ event: Event, to service: Nip46Service, relay: String = "ws://daemon") {
        service.ingest(RelayDelivery(relay: relay, subscriptionID: "nip46", event: event))
    }

    /// Runs the workers until `count` replies are captured; returns them decrypted, in order.
    func replies(_ count: Int, from service: Nip46Service) async throws -> [Nip46Response] {
        let workers = Task { await service.runWorkers() }
        defer { workers.cancel() }
        for _ in 0..<500 where self.replies.count < count {
            try await Task.sleep(for: .milliseconds(10))
        }
        let captured = self.replies.all
        #expect(captured.count == count)
        return try captured.map { reply in
            #expect(reply.event.pubkey == self.keys.session.bunkerKey.publicKey)
            #expect(reply.event.kind == 24133 && reply.event.tags == [["p", self.client.publicKey.hex]])
            try reply.event.verify()
            let text = NIP04.looksLikeNIP04(reply.event.content)
                ? try NIP04.decrypt(reply.event.content, secretKey: self.client, publicKey: reply.event.pubkey)
                : try NIP44.decrypt(reply.event.content, conversationKey: NIP44ConversationKey(secretKey: self.client, publicKey: reply.event.pubkey))
            return try Nip46Response(json: text)
        }
    }

    func dropped(_ reason: String) throws -> Int64 {
        try self.metrics.expectCounter("signer_nip46_events_dropped_total", [("reason", reason)]).totalValue
    }

    @Test("a request is decrypted, answered in its scheme, signed by the bunker key and sent to the daemon's relays")
    func answersInTheRequestsScheme() async throws {
        let service = self.service()
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        self.deliver(try self.request(#"{"id":"a","method":"ping","params":[]}"#), to: service)
        self.deliver(try self.request(#"{"id":"b","method":"get_public_key","params":[]}"#, scheme: "nip04"), to: service, relay: "ws://other")
        let answers = try await self.replies(2, from: service)
        #expect(answers == [.result("pong", id: "a"), .result(self.keys.session.userKey.publicKey.hex, id: "b")])
        let captured = self.replies.all
        #expect(!NIP04.looksLikeNIP04(captured[0].event.content) && NIP04.looksLikeNIP04(captured[1].event.content))
        #expect(captured[0].relays == ["ws://daemon"] && captured[1].relays == ["ws://daemon", "ws://other"])
        #expect(try self.metrics.expectCounter("signer_nip46_requests_total", [("method", "get_public_key"), ("outcome", "ok")]).totalValue == 1)
    }

    @Test("events that are not ours, too big, stale, repeated, forged or unreadable are dropped and counted")
    func drops() async throws {
        let service = self.service()
        let ping = #"{"id":"p","method":"ping","params":[]}"#
        let good = try self.request(ping)
        self.deliver(good, to: service)
        self.deliver(good, to: service)
        self.deliver(try UnsignedEvent(createdAt: self.now, kind: 1, tags: [], content: "").signed(with: self.client), to: service)
        let huge = String(repeating: "A", count: 100_001)
        self.deliver(try UnsignedEvent(createdAt: self.now, kind: 24133, tags: [["p", self.keys.session.bunkerKey.publicKey.hex]], content: huge).signed(with: self.client), to: service)
        self.deliver(try self.request(ping, createdAt: self.now - 601), to: service)
        self.deliver(try self.request(ping, createdAt: self.now + 601), to: service)
        self.deliver(try self.request(ping, createdAt: Int64.min), to: service)
        self.deliver(try self.request(ping, createdAt: Int64.max), to: service)
        self.deliver(try UnsignedEvent(createdAt: self.now, kind: 24133, tags: [["e", "x"]], content: "x").signed(with: self.client), to: service)
        self.deliver(try self.request(ping, to: SecretKey.generate().publicKey), to: service)
        // A valid event with one signature byte changed.
        let other = try self.request(ping).jsonString()
        let signature = String(other.suffix(130).prefix(128))
        let flipped = (signature.first == "0" ? "1" : "0") + signature.dropFirst()
        self.deliver(try Event(json: Array(other.replacingOccurrences(of: signature, with: flipped).utf8)), to: service)
        self.deliver(try UnsignedEvent(createdAt: self.now, kind: 24133, tags: [["p", self.keys.session.bunkerKey.publicKey.hex]], content: "bm90IGEgcGF5bG9hZA==").signed(with: self.client), to: service)
        // The one good request, from a client that never connected, is answered (unauthorized).
        _ = try await self.replies(1, from: service)
        #expect(try self.dropped("duplicate") == 1)
        #expect(try self.dropped("wrong_kind") == 1)
        #expect(try self.dropped("oversize") == 1)
        #expect(try self.dropped("outside_window") == 4)
        #expect(try self.dropped("no_recipient") == 1)
        #expect(try self.dropped("unknown_bunker") == 1)
        #expect(try self.dropped("bad_signature") == 1)
        #expect(try self.dropped("undecryptable") == 1)
    }

    @Test("in a cluster, requests for bunkers another member owns are declined; a ring change hands them over, claimed first")
    func ownership() async throws {
        let ownership = TestOwnership()
        let service = self.service(ownership: ownership)
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        let first = try self.request(#"{"id":"first","method":"ping","params":[]}"#)
        let second = try self.request(#"{"id":"second","method":"ping","params":[]}"#)
        let third = try self.request(#"{"id":"third","method":"ping","params":[]}"#)
        self.deliver(first, to: service)
        self.deliver(first, to: service, relay: "ws://other")
        self.deliver(second, to: service)
        self.deliver(third, to: service)
        #expect(try self.metrics.expectCounter("signer_nip46_rejected_not_owner_total").totalValue == 4)
        // The previous owner answered `second` before it went.
        ownership.claimedElsewhere.withLock { $0 = [second.id] }
        ownership.owned.withLock { $0 = true }
        service.ownershipChanged()
        let answers = try await self.replies(2, from: service)
        #expect(Set(answers.map(\.id)) == ["first", "third"])
        #expect(ownership.claims.withLock { $0 } .sorted { $0.description < $1.description } == [first.id, second.id, third.id].sorted { $0.description < $1.description })
        #expect(try self.dropped("claimed_elsewhere") == 1)
        // Handed over once: another change finds nothing left.
        service.ownershipChanged()
        #expect(ownership.claims.withLock { $0.count } == 3)
    }

    @Test("declined requests older than the window are not handed over")
    func declinedWindow() async throws {
        let ownership = TestOwnership()
        let service = self.service(ownership: ownership, declinedWindow: .milliseconds(50))
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        self.deliver(try self.request(#"{"id":"old","method":"ping","params":[]}"#), to: service)
        try await Task.sleep(for: .milliseconds(100))
        self.deliver(try self.request(#"{"id":"new","method":"ping","params":[]}"#), to: service)
        ownership.owned.withLock { $0 = true }
        service.ownershipChanged()
        let answers = try await self.replies(1, from: service)
        #expect(answers.map(\.id) == ["new"])
    }

    @Test("when the queue is full the request is answered busy:, not dropped")
    func busy() async throws {
        let service = self.service(queueCapacity: 1)
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        self.deliver(try self.request(#"{"id":"first","method":"ping","params":[]}"#), to: service)
        self.deliver(try self.request(#"{"id":"second","method":"ping","params":[]}"#), to: service)
        let answers = try await self.replies(2, from: service)
        #expect(Set(answers.map(\.id)) == ["first", "second"])
        #expect(answers.contains(.result("pong", id: "first")))
        #expect(answers.contains(.failure(Nip46Error(.busy, "the signer is overloaded; retry in a moment"), id: "second")))
    }

    @Test("a request whose key cannot be unlocked is counted, and the same worker goes on to the next")
    func failureDoesNotKillTheWorker() async throws {
        let service = self.service(workers: 1)
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        self.keys.failure.withLock { $0 = true }
        let workers = Task { await service.runWorkers() }
        defer { workers.cancel() }
        self.deliver(try self.request(#"{"id":"1","method":"get_public_key","params":[]}"#), to: service)
        // The unlock itself fails: nothing can be decrypted, so there is no one to answer.
        for _ in 0..<200 where (try? self.dropped("unlock_failed")) != 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try self.dropped("unlock_failed") == 1)
        self.keys.failure.withLock { $0 = false }
        self.deliver(try self.request(#"{"id":"2","method":"ping","params":[]}"#), to: service)
        for _ in 0..<200 where self.replies.count < 1 { try await Task.sleep(for: .milliseconds(10)) }
        let reply = try #require(self.replies.all.first)
        let text = try NIP44.decrypt(reply.event.content, conversationKey: NIP44ConversationKey(secretKey: self.client, publicKey: reply.event.pubkey))
        #expect(try Nip46Response(json: text) == .result("pong", id: "2"))
    }

    @Test("a policy engine failure mid-request is answered error: and the same worker serves the next request")
    func storeFailureIsAnswered() async throws {
        let service = self.service(workers: 1)
        _ = self.keys.session.pin(self.client.publicKey, secret: "s3cret")
        let failing = FailingAuthorize(inner: self.keys)
        let failingService = Nip46Service(
            configuration: service.configuration, keys: failing, logger: Logger(label: "test"), metricsFactory: self.metrics, clock: { [now] in now },
            publisher: { [replies] event, relays in
                replies.append(event, relays)
                return relays.first
            }
        )
        self.deliver(try self.request(#"{"id":"boom","method":"get_public_key","params":[]}"#), to: failingService)
        self.deliver(try self.request(#"{"id":"fine","method":"ping","params":[]}"#), to: failingService)
        let answers = try await self.replies(2, from: failingService)
        #expect(answers == [.failure(Nip46Error(.error, "the signer could not complete the request; try again"), id: "boom"), .result("pong", id: "fine")])
    }
}

/// Fails every policy decision, as a store outage would.
struct FailingAuthorize: BunkerKeys {
    let inner: InMemoryBunkerKeys
    func isKnownBunker(_ bunker: PublicKey) -> Bool { self.inner.isKnownBunker(bunker) }
    func session(for bunker: PublicKey) async throws -> (any BunkerSession)? { try await self.inner.session(for: bunker) }
    func connect(bunker: PublicKey, client: PublicKey, secret: String) async throws -> BunkerConnectOutcome { .refused }
    func authorize(_ session: any BunkerSession, method: String, kind: UInt16?) async throws -> BunkerVerdict { throw TestFailure() }
    func logout(_ session: any BunkerSession, client: PublicKey) async throws {}
    func audit(_ entry: BunkerAuditEntry) {}
}

/// Replies captured instead of published.
final class ReplyLog: Sendable {
    private let items = Mutex<[(event: Event, relays: [String])]>([])
    func append(_ event: Event, _ relays: [String]) { self.items.withLock { $0.append((event, relays)) } }
    var all: [(event: Event, relays: [String])] { self.items.withLock { $0 } }
    var count: Int { self.items.withLock { $0.count } }
}

/// Ownership a test switches by hand; records every claim.
final class TestOwnership: RequestOwnership {
    let owned = Mutex(false)
    let claimedElsewhere = Mutex<Set<EventID>>([])
    let claims = Mutex<[EventID]>([])

    func owns(_ bunker: PublicKey) -> Bool { self.owned.withLock { $0 } }

    func claim(_ eventID: EventID) async -> Bool {
        self.claims.withLock { $0.append(eventID) }
        return !self.claimedElsewhere.withLock { $0.contains(eventID) }
    }
}
