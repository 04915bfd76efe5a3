import CoreMetrics
import DequeModule
import Foundation
import Logging
import Metrics
import NostrCrypto
import Synchronization

/// Settings of one instance's cluster membership.
public struct ClusterConfiguration: Sendable, Hashable {
    public var endpoint: RedisEndpoint
    /// This instance's id in the ring: unique among live instances (a second process with a live id is refused).
    public var memberID: MemberID
    /// Prefix of every Redis key and of the channel, so several clusters can share one Redis.
    public var keyPrefix: String
    /// How often the instance heartbeats (and re-reads the member set).
    public var heartbeatInterval: Duration
    /// A member whose last heartbeat is older than this is out of the ring.
    public var memberExpiry: Duration
    /// How long a request's claim is kept in Redis (longer than any relay redelivers an event).
    public var claimTimeToLive: Duration
    public var redis: RedisClientConfiguration

    public init(
        endpoint: RedisEndpoint,
        memberID: MemberID,
        keyPrefix: String = "nostr-signer",
        heartbeatInterval: Duration = .seconds(2),
        memberExpiry: Duration = .seconds(6),
        claimTimeToLive: Duration = .seconds(120),
        redis: RedisClientConfiguration = .init()
    ) {
        self.endpoint = endpoint
        self.memberID = memberID
        self.keyPrefix = keyPrefix
        self.heartbeatInterval = heartbeatInterval
        self.memberExpiry = memberExpiry
        self.claimTimeToLive = claimTimeToLive
        self.redis = redis
    }

    var membersKey: String { "\(self.keyPrefix):members" }
    var leaseKey: String { "\(self.keyPrefix):member:\(self.memberID)" }
    var channel: String { "\(self.keyPrefix):events" }
    func claimKey(_ requestID: String) -> String { "\(self.keyPrefix):claim:\(requestID)" }
}

/// What a ``ClusterNode`` tells the rest of the daemon.
public enum ClusterEvent: Sendable, Hashable {
    /// The ring changed: requests this instance declined may be its own now.
    case ringChanged
    /// Another instance changed an authorization.
    case authorizationChanged(AuthorizationUpdate)
    /// The broadcast was interrupted and is back: changes made meanwhile were missed, so caches must be rechecked.
    case broadcastResumed
}

/// A snapshot for readiness and metrics.
public struct ClusterStatus: Sendable, Hashable {
    public let memberID: MemberID
    public let isJoined: Bool
    public let members: Int
    public let ownedShare: Double
    /// Redis has not answered for longer than the member expiry: the others have dropped this instance.
    public let isOutOfContact: Bool
    /// Why joining is refused, when it is (another live process holds this member id).
    public let joinRefusal: String?
}

/// One instance's membership in a cluster over Redis, and the cluster's broadcast.
///
/// - Membership is a sorted set scored by each member's last heartbeat (on Redis's clock). A heartbeat is one Lua
///   script: register, drop members older than the expiry, return the set with Redis's time, so every heartbeat is
///   also a resynchronisation. Between heartbeats members expire on a local timer at the moment their expiry
///   passes; joins and leaves are announced on the channel and applied at once.
/// - The ring (``HashRing``) is rebuilt from the live set when it changes; ``owns(_:)`` reads it.
/// - ``claim(_:)`` makes a request exactly-once across ring changes: the instance that answers first sets a key.
/// - If Redis is unreachable the last ring stays as it was; the instance reports out of contact once it has not
///   heartbeated for longer than the expiry, and heartbeats again (announcing itself) when Redis is back.
public final class ClusterNode: Sendable {
    public let configuration: ClusterConfiguration
    public let events: AsyncStream<ClusterEvent>
    private let eventSink: AsyncStream<ClusterEvent>.Continuation
    private let client: RedisClient
    private let subscriber: RedisSubscriber
    private let logger: Logger
    private let metrics: ClusterMetrics
    private let view: Mutex<MembershipView>
    /// Identifies this process in its lease, so a second process started with the same member id is refused.
    private let nonce = Hex.encode(SystemRandom.bytes(count: 16))
    private let state = Mutex<State>(State())
    /// Broadcasts that could not be published yet (Redis unreachable), oldest first; bounded.
    private let unsent = Mutex<Deque<ClusterMessage>>([])

    private struct State {
        var wantsToJoin = false
        var joinRefusal: String?
    }

    static let maximumUnsent = 10_000

    public init(configuration: ClusterConfiguration, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.configuration = configuration
        self.logger = logger
        self.client = RedisClient(endpoint: configuration.endpoint, configuration: configuration.redis, metricsFactory: metricsFactory)
        self.subscriber = RedisSubscriber(
            endpoint: configuration.endpoint, channel: configuration.channel, configuration: configuration.redis,
            keepAlive: min(configuration.heartbeatInterval, .seconds(1))
        )
        self.metrics = ClusterMetrics(factory: metricsFactory)
        self.view = Mutex(MembershipView(me: configuration.memberID, expiry: configuration.memberExpiry))
        (self.events, self.eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(65_536))
    }

    public var memberID: MemberID { self.configuration.memberID }

    /// Whether this instance answers requests for `bunker` now.
    public func owns(_ bunker: PublicKey) -> Bool {
        self.view.withLock { $0.owns(bunker.bytes) }
    }

    public var status: ClusterStatus {
        let now = ContinuousClock.now
        let refusal = self.state.withLock { $0.joinRefusal }
        return self.view.withLock { view in
            ClusterStatus(
                memberID: view.me, isJoined: view.isJoined, members: view.ring.members.count,
                ownedShare: view.isJoined ? view.ring.share(of: view.me) : 0, isOutOfContact: view.isOutOfContact(at: now), joinRefusal: refusal
            )
        }
    }

    // MARK: Running

    /// Heartbeats and listens until cancelled; then leaves (if still in the ring) and closes its connections.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen() }
            group.addTask { await self.heartbeat() }
            // Both end when this task is cancelled.
            await group.waitForAll()
        }
        await self.leave()
        await self.subscriber.shutdown()
        self.client.shutdown()
        self.eventSink.finish()
    }

    /// Asks to be put in the ring: at once if Redis answers, otherwise at the next heartbeat that succeeds.
    public func join() async {
        self.state.withLock { $0.wantsToJoin = true }
        await self.beat()
    }

    /// Leaves the ring: stops owning anything here first, then removes itself from Redis and announces it, so the
    /// others take over at once instead of after the expiry.
    public func leave() async {
        let wasJoined = self.state.withLock { state in
            defer { state.wantsToJoin = false }
            return state.wantsToJoin
        }
        guard wasJoined else { return }
        self.applyToView { $0.left() }
        let configuration = self.configuration
        do {
            try await self.client.command([
                "EVAL", Self.leaveScript, "2", configuration.membersKey, configuration.leaseKey,
                configuration.memberID.rawValue, self.nonce, ClusterMessage.leave(configuration.memberID).text, configuration.channel,
            ])
            self.logger.info("left the cluster", metadata: ["member": "\(configuration.memberID)"])
        } catch {
            self.logger.warning("could not announce leaving the cluster; the others drop this instance after the expiry", metadata: ["error": "\(error)"])
        }
    }

    /// Claims the request with this id for this instance. `false` when another instance claimed it first. When
    /// Redis cannot be asked the answer is `true`: a duplicate answer is better than none.
    public func claim(_ requestID: String) async -> Bool {
        do {
            let reply = try await self.client.command([
                "SET", self.configuration.claimKey(requestID), self.configuration.memberID.rawValue, "NX", "PX",
                String(self.configuration.claimTimeToLive.milliseconds),
            ])
            return reply != .null
        } catch {
            self.metrics.claimFailures.increment()
            return true
        }
    }

    /// Tells every other instance about `update`; kept and retried while Redis is unreachable.
    public func broadcast(_ update: AuthorizationUpdate) async {
        let message = ClusterMessage.authorization(from: self.memberID, update)
        self.unsent.withLock { unsent in
            if unsent.count == Self.maximumUnsent { unsent.removeFirst() }
            unsent.append(message)
        }
        await self.flushBroadcasts()
    }

    private func flushBroadcasts() async {
        while let message = self.unsent.withLock({ $0.first }) {
            do {
                try await self.client.command(["PUBLISH", self.configuration.channel, message.text])
                self.unsent.withLock { unsent in
                    if unsent.first == message { unsent.removeFirst() }
                }
            } catch {
                self.logger.warning("could not broadcast a change; retrying with the next heartbeat", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    // MARK: Heartbeat

    private func heartbeat() async {
        while !Task.isCancelled {
            await self.beat()
            let wake = self.view.withLock { view in
                [ContinuousClock.now + self.configuration.heartbeatInterval, view.nextExpiry].compactMap { $0 }.min()!
            }
            do { try await Task.sleep(until: max(wake, .now + .milliseconds(10)), tolerance: .milliseconds(10)) } catch { return }
            self.applyToView { $0.expire(at: .now) }
        }
    }

    /// One heartbeat (or, before joining, one read of the member set).
    private func beat() async {
        let register = self.state.withLock { $0.wantsToJoin }
        let configuration = self.configuration
        do {
            let reply = try await self.client.command([
                "EVAL", Self.heartbeatScript, "2", configuration.membersKey, configuration.leaseKey,
                configuration.memberID.rawValue, self.nonce, String(configuration.memberExpiry.milliseconds), register ? "1" : "0",
            ])
            let arrived = ContinuousClock.now
            guard let (redisNow, heartbeats) = Self.parseMembers(reply) else {
                throw RedisError(.server, "unexpected reply to the heartbeat script")
            }
            let (wasJoined, wasReachable) = self.view.withLock { ($0.isJoined, $0.reachable) }
            // Still wanted: a leave that started while this heartbeat was on its way must win.
            let stillWanted = self.state.withLock { state in
                state.joinRefusal = nil
                return state.wantsToJoin
            }
            self.applyToView { view in
                var changed = view.received(redisNow: redisNow, heartbeats: heartbeats, at: arrived)
                if register && stillWanted && !view.isJoined { changed = view.joined() || changed }
                return changed
            }
            if register && stillWanted && (!wasJoined || !wasReachable) {
                // Joining, or back after an outage: tell the others now rather than at their next heartbeat.
                _ = try? await self.client.command(["PUBLISH", configuration.channel, ClusterMessage.join(configuration.memberID).text])
                self.logger.info(wasJoined ? "back in contact with the cluster" : "joined the cluster", metadata: ["member": "\(configuration.memberID)"])
            }
            await self.flushBroadcasts()
        } catch let error as RedisError where error.code == .server && error.message.hasPrefix("MEMBERCONFLICT") {
            self.metrics.heartbeatFailures.increment()
            self.state.withLock { $0.joinRefusal = String(error.message.dropFirst("MEMBERCONFLICT ".count)) }
            self.logger.error("cannot join the cluster", metadata: ["reason": "\(error.message.dropFirst("MEMBERCONFLICT ".count))"])
        } catch {
            self.metrics.heartbeatFailures.increment()
            let wasReachable = self.view.withLock { view in
                defer { view.unreachable() }
                return view.reachable
            }
            if wasReachable {
                self.logger.warning("cluster heartbeat failed; keeping the last ring", metadata: ["error": "\(error)"])
            }
        }
    }

    /// `[redisNowMs, member, score, member, score, …]` from the heartbeat script.
    static func parseMembers(_ reply: RedisValue) -> (Int64, [MemberID: Int64])? {
        guard let elements = reply.elements, let now = elements.first?.text.flatMap({ Int64($0) }), elements.count % 2 == 1 else { return nil }
        var heartbeats: [MemberID: Int64] = [:]
        var index = 1
        while index < elements.count {
            guard let member = elements[index].text, let score = elements[index + 1].text.flatMap({ Double($0) }) else { return nil }
            heartbeats[MemberID(member)] = Int64(score)
            index += 2
        }
        return (now, heartbeats)
    }

    // MARK: Broadcast

    private func listen() async {
        var hadSubscription = false
        var interrupted = false
        for await event in self.subscriber.events {
            switch event {
            case .subscribed:
                if hadSubscription && interrupted {
                    self.logger.info("cluster broadcast resumed; rechecking caches")
                    self.eventSink.yield(.broadcastResumed)
                }
                hadSubscription = true
                interrupted = false
                // Joins and leaves may have been missed: read the member set now.
                Task { await self.beat() }
            case .disconnected(let error):
                if !interrupted { self.logger.warning("cluster broadcast interrupted; reconnecting", metadata: ["error": "\(error)"]) }
                interrupted = true
            case .message(let payload):
                self.receive(String(decoding: payload, as: UTF8.self))
            }
        }
    }

    private func receive(_ text: String) {
        guard let message = ClusterMessage(text: text) else {
            self.logger.debug("ignored an unknown cluster message")
            return
        }
        switch message {
        case .join(let member) where member != self.memberID:
            Task { await self.beat() }
        case .leave(let member) where member != self.memberID:
            self.applyToView { $0.memberLeft(member) }
        case .authorization(let from, let update) where from != self.memberID:
            self.eventSink.yield(.authorizationChanged(update))
        default:
            break
        }
    }

    // MARK: View

    private func applyToView(_ change: (inout MembershipView) -> Bool) {
        let (changed, members, share, rebuilds) = self.view.withLock { view in
            let changed = change(&view)
            return (changed, view.ring.members, view.isJoined ? view.ring.share(of: view.me) : 0, view.rebuilds)
        }
        guard changed else { return }
        self.metrics.members.record(members.count)
        self.metrics.ownedShare.record(share)
        self.metrics.ringRebuilds.increment()
        self.logger.info(
            "cluster ring rebuilt",
            metadata: ["members": "\(members.map(\.rawValue).joined(separator: ","))", "owned_share": "\(Int((share * 100).rounded()))%", "rebuilds": "\(rebuilds)"]
        )
        self.eventSink.yield(.ringChanged)
    }

    // MARK: Scripts

    /// KEYS: members sorted set, this member's lease. ARGV: member id, process nonce, expiry (ms), "1" to register.
    /// Returns Redis's time (ms) followed by every live member and its last heartbeat (ms).
    static let heartbeatScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if ARGV[4] == '1' then
          local holder = redis.call('GET', KEYS[2])
          if holder and holder ~= ARGV[2] then
            return redis.error_reply('MEMBERCONFLICT member id ' .. ARGV[1] .. ' is held by another live process')
          end
          redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
          redis.call('ZADD', KEYS[1], now, ARGV[1])
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[3])))
        local reply = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
        table.insert(reply, 1, string.format('%d', now))
        return reply
        """

    /// KEYS: members sorted set, this member's lease. ARGV: member id, process nonce, leave message, channel.
    /// Only the lease's holder may leave under its id: a refused duplicate must not remove the live member.
    static let leaveScript = """
        if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('DEL', KEYS[2])
        redis.call('PUBLISH', ARGV[4], ARGV[3])
        return 1
        """
}

struct ClusterMetrics: Sendable {
    let members: Gauge
    let ownedShare: Gauge
    let ringRebuilds: Counter
    let heartbeatFailures: Counter
    let claimFailures: Counter

    init(factory: any MetricsFactory) {
        self.members = Gauge(label: "signer_cluster_members", factory: factory)
        self.ownedShare = Gauge(label: "signer_cluster_owned_share", factory: factory)
        self.ringRebuilds = Counter(label: "signer_cluster_ring_rebuilds_total", factory: factory)
        self.heartbeatFailures = Counter(label: "signer_cluster_heartbeat_failures_total", factory: factory)
        self.claimFailures = Counter(label: "signer_cluster_claim_failures_total", factory: factory)
    }
}
