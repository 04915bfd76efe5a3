import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Signer

struct AddressRateLimiterTests {
    let start = ContinuousClock.now
    let first = ClientAddress(try! SocketAddress(ipAddress: "192.0.2.1", port: 1))

    @Test func aBucketAllowsItsBurstThenRefillsAtItsRate() {
        let limiter = AddressRateLimiter(rate: .init(burst: 2, perSecond: 4))
        #expect(limiter.take(for: self.first, now: self.start) == nil)
        #expect(limiter.wait(for: self.first, now: self.start) == nil)
        #expect(limiter.take(for: self.first, now: self.start) == nil)
        #expect(limiter.wait(for: self.first, now: self.start) == .milliseconds(250))
        #expect(limiter.take(for: self.first, now: self.start + .milliseconds(100)) == .milliseconds(150))
        #expect(limiter.take(for: self.first, now: self.start + .milliseconds(250)) == nil)
        // Never more than the burst, however long it rests.
        #expect(limiter.take(for: self.first, now: self.start + .seconds(60)) == nil)
        #expect(limiter.take(for: self.first, now: self.start + .seconds(60)) == nil)
        #expect(limiter.take(for: self.first, now: self.start + .seconds(60)) != nil)
    }

    @Test func addressesHaveTheirOwnBucketsAndAnIPv6NetworkIsOneClient() throws {
        let limiter = AddressRateLimiter(rate: .init(burst: 1, perSecond: 1))
        let host = ClientAddress(try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1))
        let sameNetwork = ClientAddress(try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 2))
        let otherNetwork = ClientAddress(try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1))
        let mapped = ClientAddress(try SocketAddress(ipAddress: "::ffff:192.0.2.1", port: 1))
        #expect(host == sameNetwork && host != otherNetwork && mapped == self.first)
        #expect(self.first != .unknown && host != .unknown && ClientAddress(nil) == .unknown)
        #expect(limiter.take(for: host, now: self.start) == nil)
        #expect(limiter.take(for: sameNetwork, now: self.start) == .seconds(1))
        #expect(limiter.take(for: otherNetwork, now: self.start) == nil)
        #expect(limiter.take(for: self.first, now: self.start) == nil)
        #expect(limiter.take(for: mapped, now: self.start) == .seconds(1))
    }

    @Test func memoryIsBoundedByForgettingTheLeastRecentGeneration() throws {
        let limiter = AddressRateLimiter(rate: .init(burst: 1, perSecond: 0.001), capacity: 4)
        let addresses = try (1...5).map { ClientAddress(try SocketAddress(ipAddress: "198.51.100.\($0)", port: 1)) }
        for address in addresses { #expect(limiter.take(for: address, now: self.start) == nil) }
        #expect(limiter.trackedAddresses <= 4)
        // The first two were forgotten (a full bucket again); the last, recently seen, is still empty.
        #expect(limiter.take(for: addresses[0], now: self.start) == nil)
        #expect(limiter.take(for: addresses[4], now: self.start) != nil)
    }

    @Test func askingAboutAnAddressKeepsItsBucketAndRemembersNoNewOne() throws {
        let limiter = AddressRateLimiter(rate: .init(burst: 1, perSecond: 0.001), capacity: 4)
        let addresses = try (1...4).map { ClientAddress(try SocketAddress(ipAddress: "203.0.113.\($0)", port: 1)) }
        #expect(limiter.take(for: addresses[0], now: self.start) == nil)
        #expect(limiter.take(for: addresses[1], now: self.start) == nil)
        // The third address starts a new generation; the first two are now the previous one.
        #expect(limiter.take(for: addresses[2], now: self.start) == nil)
        // Asked about from the previous generation, the first address keeps its empty bucket...
        #expect(limiter.wait(for: addresses[0], now: self.start) != nil)
        #expect(limiter.wait(for: addresses[0], now: self.start) != nil)
        #expect(limiter.take(for: addresses[0], now: self.start) != nil)
        // ...and an address never seen is not remembered for being asked about.
        let before = limiter.trackedAddresses
        #expect(limiter.wait(for: addresses[3], now: self.start) == nil)
        #expect(limiter.trackedAddresses == before)
    }
}

struct BearerTokenTests {
    @Test func theSchemeIsCaseInsensitiveAndSpacesAroundTheTokenAreIgnored() {
        #expect(Request.bearerToken(authorization: "Bearer nsat_abc") == "nsat_abc")
        #expect(Request.bearerToken(authorization: "bEaReR   nsat_abc \t") == "nsat_abc")
        #expect(Request.bearerToken(authorization: "Bearer") == nil)
        #expect(Request.bearerToken(authorization: "Bearer    ") == nil)
        #expect(Request.bearerToken(authorization: "Basic dXNlcjpwYXNz") == nil)
        #expect(Request.bearerToken(authorization: "Bearertoken") == nil)
        #expect(Request.bearerToken(authorization: "Beärer x") == nil)
    }
}

struct RequestDeadlinesTests {
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    let deadlines = RequestDeadlines(interval: .milliseconds(10))

    /// Runs `body` under `limit` in a task of its own, as a request's handler runs: the reaper cancels that task, and
    /// Swift Testing takes a cancelled test task for a cancelled test.
    func run(limit: Duration, _ body: @escaping @Sendable () async throws -> Int) async throws -> Int {
        let deadlines = self.deadlines
        return try await Task { try await deadlines.run(limit: limit, body) }.value
    }

    struct Refused: Error, Equatable {}

    @Test func aHandlerPastItsDeadlineIsCancelledAndAnswersTimeout() async throws {
        let start = ContinuousClock.now
        do {
            _ = try await self.run(limit: .milliseconds(100)) { () async throws -> Int in
                try await Task.sleep(for: .seconds(10))
                return 1
            }
            Issue.record("the handler was not stopped")
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable && error.code == "timeout")
            #expect(error.message == "the request took longer than 0 s")
        }
        #expect(start.duration(to: .now) < .seconds(5))
        #expect(self.deadlines.inFlight == 0)
    }

    @Test func aHandlerThatIgnoresCancellationStillAnswersTimeout() async throws {
        // The reaper is driven by hand here (its own task checks only hourly), so nothing depends on scheduling.
        let deadlines = RequestDeadlines(interval: .seconds(3600))
        let released = Flag()
        let handler = Task {
            try await deadlines.run(limit: .milliseconds(50)) { () async throws -> Int in
                // Waits without looking at cancellation, as CPU-bound work would.
                while !released.value.load(ordering: .acquiring) { await Task.yield() }
                return 1
            }
        }
        while deadlines.inFlight == 0 { await Task.yield() }
        deadlines.cancelExpired(now: .now + .seconds(1))
        released.value.store(true, ordering: .releasing)
        await #expect(throws: APIError.self) { try await handler.value }
        #expect(deadlines.inFlight == 0)
    }

    @Test func handlersWithinTheirLimitReturnOrThrowAsTheyWould() async throws {
        #expect(try await self.run(limit: .seconds(5)) { 42 } == 42)
        await #expect(throws: Refused()) {
            try await self.run(limit: .seconds(5)) { () async throws -> Int in throw Refused() }
        }
        #expect(self.deadlines.inFlight == 0)
    }
}

struct TraceIDTests {
    @Test func newTraceIDsAre32HexCharactersAndNeverRepeat() {
        let ids = (0..<20_000).map { _ in TraceIDs.next() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) } })
        // Consecutive ids share no visible counter.
        #expect(ids[0].prefix(16) != ids[1].prefix(16) && ids[0].suffix(16) != ids[1].suffix(16))
    }
}

struct LogLineTests {
    let event = LogEvent(
        level: .warning, message: "relay \"down\"\n", metadata: ["relay": "wss://r.example", "attempt": "2"], source: "Nip46", file: "f",
        function: "g", line: 1
    )
    let time = Date(timeIntervalSince1970: 1_790_000_000.25)

    @Test func textLinesCarryTheLoggersAndTheEventsMetadataSorted() {
        var handler = SignerLogHandler(label: "signer.nip46", format: .text)
        handler[metadataKey: "trace_id"] = "abc"
        #expect(handler.line(for: self.event, at: self.time) == "2026-09-21T14:13:20Z warning signer.nip46: attempt=2 relay=wss://r.example trace_id=abc [Nip46] relay \"down\"\n\n")
    }

    @Test func jsonLinesAreOneEscapedObject() {
        var handler = SignerLogHandler(label: "signer.nip46", format: .json)
        handler[metadataKey: "trace_id"] = "abc"
        #expect(
            handler.line(for: self.event, at: self.time)
                == #"{"time":"2026-09-21T14:13:20.250Z","level":"warning","label":"signer.nip46","message":"relay \"down\"\n","attempt":"2","relay":"wss://r.example","trace_id":"abc"}"# + "\n"
        )
    }
}
