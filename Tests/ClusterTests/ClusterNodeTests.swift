import Foundation
import Logging
import NostrCrypto
import Testing
import TestSupport

@testable import Cluster

/// Three nodes on a private redis-server, with short intervals so the tests take seconds.
@Suite("Cluster membership and broadcast on a real redis-server", .serialized)
struct ClusterNodeTests {
    static let interval = Duration.milliseconds(100)
    static let expiry = Duration.milliseconds(600)

    static func node(_ id: String, server: RedisServer, interval: Duration = Self.interval, expiry: Duration = Self.expiry) throws -> ClusterNode {
        ClusterNode(
            configuration: ClusterConfiguration(
                endpoint: try RedisEndpoint(url: server.url), memberID: MemberID(id), keyPrefix: "test", heartbeatInterval: interval,
                memberExpiry: expiry, redis: .init(connectTimeout: .milliseconds(300), commandTimeout: .milliseconds(300), reconnect: Backoff(base: .milliseconds(20), maximum: .milliseconds(100)))
            ),
            logger: Logger(label: "test.cluster")
        )
    }

    /// Polls `condition` every 10 ms for up to `limit`; returns how long it took, or nil.
    static func waitFor(_ limit: Duration = .seconds(5), _ condition: () async -> Bool) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if await condition() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition() ? ContinuousClock.now - start : nil
    }

    static let keys: [PublicKey] = (0..<300).map { _ in SecretKey.generate().publicKey }

    @Test("members join, agree on every owner, and a leave is applied at once (well before the expiry)")
    func joinAgreeLeave() async throws {
        // A long expiry, so "at once" stands apart from "at the expiry" even when a loaded CI machine delays the
        // pub/sub message by a few hundred milliseconds.
        let expiry = Duration.seconds(3)
        let server = try RedisServer()
        let nodes = try ["a", "b", "c"].map { try Self.node($0, server: server, expiry: expiry) }
        let tasks = nodes.map { node in Task { await node.run() } }
        for node in nodes { await node.join() }
        #expect(await Self.waitFor { nodes.allSatisfy { $0.status.members == 3 && $0.status.isJoined } } != nil)
        // Every key has exactly one owner, the same one everywhere.
        for key in Self.keys {
            #expect(nodes.filter { $0.owns(key) }.count == 1)
        }
        let shares = nodes.map(\.status.ownedShare)
        #expect(abs(shares.reduce(0, +) - 1) < 1e-9)

        await nodes[2].leave()
        let took = await Self.waitFor { nodes[0].status.members == 2 && nodes[1].status.members == 2 }
        #expect(took != nil && took! < expiry / 2)
        #expect(!nodes[2].status.isJoined)
        for key in Self.keys {
            #expect(!nodes[2].owns(key))
            #expect([nodes[0], nodes[1]].filter { $0.owns(key) }.count == 1)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    @Test("a member that stops heartbeating without leaving (a crash) is dropped when its expiry passes")
    func crashedMemberExpires() async throws {
        // A heartbeat interval of a whole second, so "at the expiry" and "a heartbeat late" lie a second apart and a
        // loaded CI machine's slower timers cannot be mistaken for either.
        let interval = Duration.seconds(1)
        let expiry = Duration.seconds(2)
        let server = try RedisServer()
        let node = try Self.node("a", server: server, interval: interval, expiry: expiry)
        let task = Task { await node.run() }
        await node.join()
        // A member that beats once, the way a node does, and never again.
        let raw = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { raw.shutdown() }
        // Taken before the heartbeat, whose time on Redis's clock starts the expiry: the round trips that follow can take
        // longer than the timer's slack on a loaded machine (CI saw the crash "detected" 50 ms early when timed after them).
        let crashedAt = ContinuousClock.now
        try await raw.command(["EVAL", ClusterNode.heartbeatScript, "2", "test:members", "test:member:ghost", "ghost", "n", "\(expiry.milliseconds)", "1"])
        try await raw.command(["PUBLISH", "test:events", "join ghost"])
        #expect(await Self.waitFor { node.status.members == 2 } != nil)
        let gone = await Self.waitFor { node.status.members == 1 }
        let detected = ContinuousClock.now - crashedAt
        #expect(gone != nil)
        // Within the expiry, give or take the local timer's slack; never a heartbeat interval late.
        #expect(detected >= expiry - .milliseconds(50) && detected < expiry + interval)
        task.cancel()
        await task.value
    }

    @Test("a claim goes to the first instance that asks; later asks are refused")
    func claims() async throws {
        let server = try RedisServer()
        let a = try Self.node("a", server: server)
        let b = try Self.node("b", server: server)
        #expect(await a.claim("event-1"))
        #expect(!(await b.claim("event-1")))
        #expect(!(await a.claim("event-1")))
        #expect(await b.claim("event-2"))
        let raw = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { raw.shutdown() }
        #expect(try await raw.command(["GET", "test:claim:event-1"]) == .bulk(Array("a".utf8)))
        let ttl = try await raw.command(["PTTL", "test:claim:event-1"])
        guard case .integer(let milliseconds) = ttl else {
            Issue.record("PTTL answered \(ttl), not an integer")
            return
        }
        #expect(milliseconds > 110_000 && milliseconds <= 120_000)
        // Redis gone: the claim is granted (answering twice beats not answering).
        server.stop()
        #expect(await a.claim("event-3"))
    }

    @Test("an authorization change reaches the other instances in milliseconds, and not its sender")
    func broadcast() async throws {
        let server = try RedisServer()
        let a = try Self.node("a", server: server)
        let b = try Self.node("b", server: server)
        let tasks = [a, b].map { node in Task { await node.run() } }
        try await Task.sleep(for: .milliseconds(300))
        let update = AuthorizationUpdate(authorizationID: "5f0c2a4e-1b7e-4a7e-9a57-0d8f1b0c9e11", revision: 4, bunker: Self.keys[0], isActive: false)
        let sent = ContinuousClock.now
        await a.broadcast(update)
        var received: AuthorizationUpdate?
        for await event in b.events {
            if case .authorizationChanged(let change) = event {
                received = change
                break
            }
        }
        #expect(received == update)
        #expect(ContinuousClock.now - sent < .seconds(1))
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        for await event in a.events {
            if case .authorizationChanged = event { Issue.record("the sender received its own broadcast") }
        }
    }

    @Test("Redis down: the last ring stays, out of contact after the expiry; back: the member rejoins and the broadcast resumes")
    func redisOutage() async throws {
        // A longer expiry than the other tests: "not yet out of contact" is checked 300 ms after Redis stops, and a
        // loaded CI machine can oversleep that by a few hundred milliseconds.
        let expiry = Duration.seconds(2)
        let server = try RedisServer()
        let a = try Self.node("a", server: server, expiry: expiry)
        let b = try Self.node("b", server: server, expiry: expiry)
        let tasks = [a, b].map { node in Task { await node.run() } }
        await a.join()
        await b.join()
        #expect(await Self.waitFor { a.status.members == 2 && b.status.members == 2 } != nil)
        let owners = Self.keys.map { a.owns($0) }
        server.stop()
        try await Task.sleep(for: .milliseconds(300))
        #expect(a.status.members == 2 && !a.status.isOutOfContact)
        #expect(await Self.waitFor { a.status.isOutOfContact && b.status.isOutOfContact } != nil)
        #expect(a.status.members == 2)
        #expect(Self.keys.map { a.owns($0) } == owners)

        try server.start()
        #expect(await Self.waitFor { !a.status.isOutOfContact && !b.status.isOutOfContact } != nil)
        #expect(a.status.members == 2 && b.status.members == 2)
        #expect(Self.keys.map { a.owns($0) } == owners)
        let raw = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { raw.shutdown() }
        #expect(await Self.waitFor {
            (try? await raw.command(["ZRANGE", "test:members", "0", "-1"]))?.elements?.compactMap(\.text) == ["a", "b"]
        } != nil)
        var resumed = false
        for await event in a.events where event == .broadcastResumed {
            resumed = true
            break
        }
        #expect(resumed)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    @Test("a second live process with the same member id is refused, and says why")
    func duplicateMemberID() async throws {
        let server = try RedisServer()
        let first = try Self.node("same", server: server)
        let second = try Self.node("same", server: server)
        let tasks = [first, second].map { node in Task { await node.run() } }
        await first.join()
        await second.join()
        #expect(first.status.isJoined)
        #expect(!second.status.isJoined)
        #expect(second.status.joinRefusal == "member id same is held by another live process")
        // The refused one stopping must not take the live one out of Redis.
        tasks[1].cancel()
        await tasks[1].value
        let raw = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { raw.shutdown() }
        #expect(try await raw.command(["ZRANGE", "test:members", "0", "-1"]) == .array([.bulk(Array("same".utf8))]))
        tasks[0].cancel()
        await tasks[0].value
        #expect(try await raw.command(["ZRANGE", "test:members", "0", "-1"]) == .array([]))
    }
}
