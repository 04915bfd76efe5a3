import Foundation
import NostrCrypto
import Synchronization

/// What a ``RedisSubscriber`` sees.
public enum RedisSubscriberEvent: Sendable, Hashable {
    /// Subscribed (again): messages published while the subscription was down are lost, so a listener that needs
    /// them should resynchronise from the source now.
    case subscribed
    /// The connection broke; it is being reopened.
    case disconnected(RedisError)
    /// A message on the channel.
    case message([UInt8])
}

/// A dedicated connection subscribed to one pub/sub channel, on a thread of its own (hiredis blocks).
///
/// The thread polls the socket with a short time-out so it notices shutdown, and sends a `PING` every
/// `keepAlive`; a connection that does not answer within the command time-out is dropped and reopened with
/// backoff, and the stream says so (``RedisSubscriberEvent/disconnected(_:)``, then ``RedisSubscriberEvent/subscribed``).
public final class RedisSubscriber: Sendable {
    public let endpoint: RedisEndpoint
    public let channel: String
    public let events: AsyncStream<RedisSubscriberEvent>
    private let continuation: AsyncStream<RedisSubscriberEvent>.Continuation
    private let configuration: RedisClientConfiguration
    private let keepAlive: Duration
    private let stopped = Atomic<Bool>(false)
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init(endpoint: RedisEndpoint, channel: String, configuration: RedisClientConfiguration = .init(), keepAlive: Duration = .seconds(1)) {
        self.endpoint = endpoint
        self.channel = channel
        self.configuration = configuration
        self.keepAlive = keepAlive
        (self.events, self.continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let thread = Thread { [self] in
            self.serve()
            self.continuation.finish()
            let waiters = self.finished.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "signer-redis-sub"
        thread.start()
    }

    /// Unsubscribes, closes the connection and waits for the thread to end; the stream finishes.
    public func shutdown() async {
        self.stopped.store(true, ordering: .relaxed)
        await withCheckedContinuation { waiter in
            let done = self.finished.withLock { state in
                if !state.done { state.waiters.append(waiter) }
                return state.done
            }
            if done { waiter.resume() }
        }
    }

    private var isStopped: Bool { self.stopped.load(ordering: .relaxed) }

    private func serve() {
        let connection = RedisConnection(endpoint: self.endpoint, connectTimeout: self.configuration.connectTimeout, commandTimeout: self.configuration.commandTimeout)
        defer { connection.close() }
        var failedAttempts = 0
        let pollInterval = Duration.milliseconds(100)
        while !self.isStopped {
            do throws(RedisError) {
                try connection.connect()
                try connection.send([Array("SUBSCRIBE".utf8), Array(self.channel.utf8)])
                var lastPing = ContinuousClock.now
                var awaitingPong: ContinuousClock.Instant?
                while !self.isStopped {
                    _ = try connection.readAvailable(waitingUpTo: pollInterval)
                    while let reply = try connection.bufferedReply() {
                        try self.handle(reply, awaitingPong: &awaitingPong, resetBackoff: { failedAttempts = 0 })
                    }
                    let now = ContinuousClock.now
                    if let sent = awaitingPong, now - sent > self.configuration.commandTimeout {
                        throw RedisError(.timeout, "Redis at \(self.endpoint.host):\(self.endpoint.port) did not answer a PING within \(self.configuration.commandTimeout)")
                    }
                    if awaitingPong == nil, now - lastPing >= self.keepAlive {
                        try connection.send([Array("PING".utf8)])
                        lastPing = now
                        awaitingPong = now
                    }
                }
            } catch {
                connection.close()
                if self.isStopped { break }
                self.continuation.yield(.disconnected(error))
                // Sleep in short steps so shutdown is not held up by the backoff.
                let wakeAt = ContinuousClock.now + self.configuration.reconnect.delay(attempt: failedAttempts)
                failedAttempts += 1
                while !self.isStopped && ContinuousClock.now < wakeAt { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
    }

    private func handle(
        _ reply: Result<RedisValue, RedisError>, awaitingPong: inout ContinuousClock.Instant?, resetBackoff: () -> Void
    ) throws(RedisError) {
        let value: RedisValue
        switch reply {
        case .success(let success): value = success
        case .failure(let error): throw error
        }
        // In subscribed mode every reply is an array: ["message", channel, payload], ["subscribe", channel, count],
        // ["pong", ""].
        guard let parts = value.elements, let kind = parts.first?.text else { return }
        switch kind {
        case "message" where parts.count == 3:
            if case .bulk(let payload) = parts[2] { self.continuation.yield(.message(payload)) }
        case "subscribe":
            resetBackoff()
            self.continuation.yield(.subscribed)
        case "pong":
            awaitingPong = nil
        default:
            break
        }
    }
}
