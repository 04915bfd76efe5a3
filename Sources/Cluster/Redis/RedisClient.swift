import CoreMetrics
import DequeModule
import Foundation
import Metrics
import NostrCrypto

/// Time-outs and reconnect pacing of a Redis connection.
public struct RedisClientConfiguration: Sendable, Hashable {
    /// How long connecting (TCP, then AUTH and SELECT) may take.
    public var connectTimeout: Duration
    /// How long one pipeline of commands may wait for its replies.
    public var commandTimeout: Duration
    /// After a failed connection, commands fail at once (``RedisError/Code/unavailable``) until the next attempt is
    /// due: from 100 ms, doubling up to 2 s, with jitter so a cluster's instances do not all reconnect at once.
    public var reconnect: Backoff

    public init(
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(1),
        reconnect: Backoff = Backoff(base: .milliseconds(100), maximum: .seconds(2))
    ) {
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnect = reconnect
    }
}

/// Redis commands from async code, over one hiredis connection driven by a thread of its own.
///
/// hiredis blocks, so no call into it may run on the cooperative pool or an event loop: callers suspend, the
/// client's thread takes every command queued since its last round, sends them as one pipeline, and resumes each
/// caller with its reply. A broken connection fails the round's commands and is reopened for the next, paced by a
/// doubling delay.
public final class RedisClient: @unchecked Sendable {
    private struct Pending {
        let command: [[UInt8]]
        let continuation: CheckedContinuation<RedisValue, any Error>
    }

    public let endpoint: RedisEndpoint
    public let configuration: RedisClientConfiguration
    // `condition` guards the fields below it; that is what makes the class safe to share (hence @unchecked Sendable).
    private let condition = NSCondition()
    private var queue = Deque<Pending>()
    private var isShutDown = false
    private let latency: RedisLatency

    public init(endpoint: RedisEndpoint, configuration: RedisClientConfiguration = .init(), metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.latency = RedisLatency(factory: metricsFactory)
        let thread = Thread { [self] in self.serve() }
        thread.name = "signer-redis"
        thread.start()
    }

    /// Runs one command (`["SET", "k", "v"]`) and returns its reply; an error reply throws ``RedisError/Code/server``.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisValue {
        try await self.command(arguments.map { Array($0.utf8) })
    }

    @discardableResult
    public func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        return try await withCheckedThrowingContinuation { continuation in
            self.condition.lock()
            guard !self.isShutDown else {
                self.condition.unlock()
                continuation.resume(throwing: RedisError(.closed, "the Redis client is shut down"))
                return
            }
            self.queue.append(Pending(command: arguments, continuation: continuation))
            self.condition.signal()
            self.condition.unlock()
        }
    }

    /// Fails what is queued and tells the thread to close the connection and end (after the round it is in, if
    /// any: this call does not wait for it, so it never blocks its caller); later commands fail with `closed`.
    public func shutdown() {
        self.condition.lock()
        self.isShutDown = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    // MARK: The client's thread

    private func serve() {
        let connection = RedisConnection(
            endpoint: self.endpoint, connectTimeout: self.configuration.connectTimeout, commandTimeout: self.configuration.commandTimeout
        )
        var failedConnects = 0
        var nextAttempt = ContinuousClock.now
        while true {
            self.condition.lock()
            while self.queue.isEmpty && !self.isShutDown { self.condition.wait() }
            if self.isShutDown {
                let abandoned = Array(self.queue)
                self.queue.removeAll()
                self.condition.unlock()
                for pending in abandoned { pending.continuation.resume(throwing: RedisError(.closed, "the Redis client is shut down")) }
                connection.close()
                return
            }
            let round = Array(self.queue)
            self.queue.removeAll()
            self.condition.unlock()

            if !connection.isConnected {
                let now = ContinuousClock.now
                guard now >= nextAttempt else {
                    let error = RedisError(.unavailable, "Redis at \(self.endpoint.host):\(self.endpoint.port) is unreachable; reconnecting")
                    for pending in round { pending.continuation.resume(throwing: error) }
                    continue
                }
                do {
                    try connection.connect()
                    failedConnects = 0
                } catch {
                    nextAttempt = ContinuousClock.now + self.configuration.reconnect.delay(attempt: failedConnects)
                    failedConnects += 1
                    for pending in round { pending.continuation.resume(throwing: error) }
                    continue
                }
            }
            let start = ContinuousClock.now
            do {
                let replies = try connection.execute(round.map(\.command))
                let elapsed = start.duration(to: .now)
                for (pending, reply) in zip(round, replies) {
                    self.latency.record(elapsed, command: pending.command[0])
                    pending.continuation.resume(with: reply.mapError { $0 as any Error })
                }
            } catch {
                // The connection is closed; try again on the next round, without waiting: one broken connection
                // (a Redis restart) should cost one round, not a backoff.
                for pending in round { pending.continuation.resume(throwing: error) }
            }
        }
    }
}

/// `signer_redis_command_duration_seconds` by command: a fixed set of names, everything else is `other`.
struct RedisLatency: Sendable {
    private static let names: Set<String> = ["EVAL", "EVALSHA", "SET", "GET", "DEL", "PUBLISH", "PING", "ZADD", "ZREM", "ZRANGE", "TIME"]
    private let timers: [String: Timer]
    private let other: Timer

    init(factory: any MetricsFactory) {
        var timers: [String: Timer] = [:]
        for name in Self.names {
            timers[name] = Timer(label: "signer_redis_command_duration_seconds", dimensions: [("command", name)], factory: factory)
        }
        self.timers = timers
        self.other = Timer(label: "signer_redis_command_duration_seconds", dimensions: [("command", "other")], factory: factory)
    }

    func record(_ duration: Duration, command name: [UInt8]) {
        let timer = self.timers[String(decoding: name, as: UTF8.self).uppercased()] ?? self.other
        timer.record(duration: duration)
    }
}
