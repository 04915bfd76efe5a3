import Foundation
import NostrCrypto
import Testing
import TestSupport

@testable import Cluster

@Suite("Redis URL")
struct RedisEndpointTests {
    @Test("every part of the URL")
    func fullURL() throws {
        let endpoint = try RedisEndpoint(url: "redis://signer:s3cr%40t%3Ax@redis.internal:6380/4")
        #expect(endpoint == RedisEndpoint(host: "redis.internal", port: 6380, user: "signer", password: "s3cr@t:x", database: 4))
        #expect(endpoint.description == "redis://signer:***@redis.internal:6380/4")
    }

    @Test("defaults, a password alone, IPv6")
    func shortForms() throws {
        #expect(try RedisEndpoint(url: "redis://localhost") == RedisEndpoint(host: "localhost"))
        #expect(try RedisEndpoint(url: "redis://localhost/") == RedisEndpoint(host: "localhost"))
        #expect(try RedisEndpoint(url: "redis://:pw@h:1/2") == RedisEndpoint(host: "h", port: 1, password: "pw", database: 2))
        #expect(try RedisEndpoint(url: "redis://pw@h") == RedisEndpoint(host: "h", password: "pw"))
        #expect(try RedisEndpoint(url: "redis://[::1]:7000/1") == RedisEndpoint(host: "::1", port: 7000, database: 1))
        #expect(try RedisEndpoint(url: "redis://:pw@[::1]").description == "redis://:***@[::1]:6379/0")
    }

    @Test(
        "malformed URLs are refused with a message that never holds the password",
        arguments: [
            ("http://h", "the Redis URL must start with redis://"),
            ("rediss://h", "rediss:// (TLS) is not supported; use redis:// on a private network or a TLS tunnel"),
            ("redis://:hunter2@h:port", "the Redis URL's port is not a number"),
            ("redis://:hunter2@h:0", "the Redis URL's port 0 is out of range"),
            ("redis://:hunter2@h/db", "the Redis URL's path must be a database number, not \"db\""),
            ("redis://:hunter2@/1", "the Redis URL has no host"),
            ("redis://:hunt%2@h", "the Redis URL's password has a malformed percent escape"),
            ("redis://h?timeout=1", "the Redis URL takes no query parameters"),
        ]
    )
    func refused(url: String, message: String) {
        #expect(throws: RedisError(.invalidURL, message)) { try RedisEndpoint(url: url) }
    }
}

@Suite("Redis client and subscriber on a real redis-server", .serialized)
struct RedisClientTests {
    @Test("commands round-trip bytes, and concurrent callers share pipelines in order")
    func commands() async throws {
        let server = try RedisServer()
        let client = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { client.shutdown() }
        let binary: [UInt8] = [0, 1, 2, 255, 13, 10]
        #expect(try await client.command([Array("SET".utf8), Array("k".utf8), binary]) == .status("OK"))
        #expect(try await client.command(["GET", "k"]) == .bulk(binary))
        #expect(try await client.command(["GET", "missing"]) == .null)
        let results = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 { group.addTask { if case .integer(let value) = try await client.command(["INCR", "n"]) { value } else { -1 } } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == Array(1...200))
        #expect(try await client.command(["RPUSH", "l", "a", "b"]) == .integer(2))
        #expect(try await client.command(["LRANGE", "l", "0", "-1"]) == .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8))]))
        await #expect(throws: RedisError(.server, "ERR unknown command 'NOSUCH', with args beginning with: ")) {
            try await client.command(["NOSUCH"])
        }
        // An error reply fails only its own command; the connection goes on.
        #expect(try await client.command(["GET", "k"]) == .bulk(binary))
    }

    @Test("AUTH as an ACL user and SELECT come from the URL; a refused login never shows the password")
    func loginAndDatabase() async throws {
        let server = try RedisServer()
        let admin = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { admin.shutdown() }
        try await admin.command(["ACL", "SETUSER", "signer", "on", ">pa55word", "~*", "&*", "+@all"])
        let inDatabase3 = RedisClient(endpoint: try RedisEndpoint(url: "redis://signer:pa55word@127.0.0.1:\(server.port)/3"))
        defer { inDatabase3.shutdown() }
        try await inDatabase3.command(["SET", "where", "three"])
        #expect(try await admin.command(["GET", "where"]) == .null)
        try await admin.command(["SELECT", "3"])
        #expect(try await admin.command(["GET", "where"]) == .bulk(Array("three".utf8)))

        let wrong = RedisClient(endpoint: try RedisEndpoint(url: "redis://signer:not-the-password@127.0.0.1:\(server.port)"))
        defer { wrong.shutdown() }
        let error = await #expect(throws: RedisError.self) { try await wrong.command(["PING"]) }
        #expect(
            error == RedisError(.server, "Redis at 127.0.0.1:\(server.port) refused the login: WRONGPASS invalid username-password pair or user is disabled.")
        )
    }

    @Test("an unreachable server fails within the connect time-out, then fast until the backoff has passed")
    func unreachable() async throws {
        let port = try freeLoopbackPort()
        let client = RedisClient(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: port),
            configuration: .init(connectTimeout: .milliseconds(500), reconnect: Backoff(base: .seconds(30), maximum: .seconds(30)))
        )
        defer { client.shutdown() }
        let first = await #expect(throws: RedisError.self) { try await client.command(["PING"]) }
        #expect(first == RedisError(.connection, "cannot connect to Redis at 127.0.0.1:\(port): Connection refused"))
        let second = await #expect(throws: RedisError.self) { try await client.command(["PING"]) }
        #expect(second == RedisError(.unavailable, "Redis at 127.0.0.1:\(port) is unreachable; reconnecting"))
    }

    @Test("a server that stops answering hits the command time-out; the client reconnects once it answers again")
    func commandTimeout() async throws {
        let server = try RedisServer()
        let pauser = RedisClient(endpoint: try RedisEndpoint(url: server.url))
        defer { pauser.shutdown() }
        let client = RedisClient(
            endpoint: try RedisEndpoint(url: server.url),
            configuration: .init(commandTimeout: .milliseconds(300), reconnect: Backoff(base: .milliseconds(10), maximum: .milliseconds(10)))
        )
        defer { client.shutdown() }
        #expect(try await client.command(["PING"]) == .status("PONG"))
        try await pauser.command(["CLIENT", "PAUSE", "1500", "ALL"])
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) { try await client.command(["PING"]) }
        #expect(error == RedisError(.timeout, "Redis at 127.0.0.1:\(server.port) did not answer within 0.3 seconds"))
        #expect(ContinuousClock.now - start < .seconds(1))
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await client.command(["PING"]) == .status("PONG"))
    }

    @Test("a restarted server costs the commands of one round; the next round reconnects")
    func restart() async throws {
        let server = try RedisServer()
        let client = RedisClient(endpoint: try RedisEndpoint(url: server.url), configuration: .init(reconnect: Backoff(base: .milliseconds(10), maximum: .milliseconds(10))))
        defer { client.shutdown() }
        try await client.command(["SET", "k", "v"])
        server.stop()
        try server.start()
        var replies: [String] = []
        for _ in 0..<5 {
            do { replies.append(try await client.command(["PING"]).text ?? "?") } catch { replies.append("failed") }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(replies == ["failed", "PONG", "PONG", "PONG", "PONG"])
        // Nothing is saved: the restarted server is empty.
        #expect(try await client.command(["GET", "k"]) == .null)
    }

    @Test("the subscriber delivers messages, and says when it lost and regained its subscription")
    func subscriber() async throws {
        let server = try RedisServer()
        let endpoint = try RedisEndpoint(url: server.url)
        let client = RedisClient(endpoint: endpoint, configuration: .init(reconnect: Backoff(base: .milliseconds(10), maximum: .milliseconds(10))))
        defer { client.shutdown() }
        let subscriber = RedisSubscriber(
            endpoint: endpoint, channel: "events", configuration: .init(commandTimeout: .milliseconds(500), reconnect: Backoff(base: .milliseconds(50), maximum: .milliseconds(50))),
            keepAlive: .milliseconds(200)
        )
        var events = subscriber.events.makeAsyncIterator()
        #expect(await events.next() == .subscribed)
        #expect(try await client.command(["PUBLISH", "events", "one"]) == .integer(1))
        #expect(try await client.command(["PUBLISH", "other", "ignored"]) == .integer(0))
        #expect(await events.next() == .message(Array("one".utf8)))

        server.stop()
        guard case .disconnected = await events.next() else {
            Issue.record("expected a disconnection")
            return
        }
        try server.start()
        var next = await events.next()
        while case .disconnected = next { next = await events.next() }
        #expect(next == .subscribed)
        var published: RedisValue = .null
        for _ in 0..<20 {
            published = (try? await client.command(["PUBLISH", "events", "two"])) ?? .null
            if published == .integer(1) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(published == .integer(1))
        #expect(await events.next() == .message(Array("two".utf8)))
        await subscriber.shutdown()
        #expect(await events.next() == nil)
    }
}
