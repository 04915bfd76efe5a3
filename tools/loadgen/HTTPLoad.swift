import NIOCore
import NIOHTTP1
import NIOPosix
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

/// The HTTP RPC under load: `lanes` keep-alive connections, each with one request in flight, spread over `servers`
/// (lane *l* talks to server *l* mod count, as a load balancer would spread them).
///
/// The load generator shares the cores with the server it measures, so its own cost per request must be small: each
/// lane lives on one event loop and is driven by its channel's callbacks (no task hops per request), and requests are
/// written as bytes, not through NIO's HTTP encoder. Responses go through NIO's HTTP/1 decoder.
struct HTTPLoad: Sendable {
    /// The methods, and how often each is sent: request *n* of a lane is `mix[n % mix.count]`.
    let mix: [HTTPOperation]
    let servers: [ServerAddress]
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
        let group = MultiThreadedEventLoopGroup.singleton
        let finished = (0..<self.lanes).map { lane -> EventLoopFuture<LaneOutcome> in
            let loop = group.next()
            let done = loop.makePromise(of: LaneOutcome.self)
            let driver = HTTPLane(load: self, lane: lane, loop: loop, tickets: tickets, schedule: schedule, peer: peer, done: done)
            loop.execute { driver.connect() }
            return done.futureResult
        }
        var outcomes: [LaneOutcome] = []
        for future in finished {
            // A lane's promise only ever succeeds.
            outcomes.append((try? await future.get()) ?? LaneOutcome())
        }
        return outcomes
    }
}

/// One lane: a connection, and the next request written when the previous response has ended (closed loop) or when
/// it is due (open loop). Every member is touched on `loop` only.
final class HTTPLane: @unchecked Sendable {
    private struct InFlight {
        let due: ContinuousClock.Instant
        let operation: HTTPLoad.HTTPOperation
        let grant: Grant
        let content: String
    }

    private let load: HTTPLoad
    private let lane: Int
    private let loop: any EventLoop
    private let tickets: Tickets
    private let schedule: Schedule
    private let peer: SecretKey
    private let done: EventLoopPromise<LaneOutcome>
    private let server: ServerAddress

    private static let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/nostr")

    private var channel: (any Channel)?
    private var outcome = LaneOutcome()
    private var sequence = 0
    private var inFlight: InFlight?
    private var status = 0
    private var body: [UInt8] = []
    private var conversationKeys: [PublicKey: NIP44ConversationKey] = [:]
    private var finished = false

    init(
        load: HTTPLoad, lane: Int, loop: any EventLoop, tickets: Tickets, schedule: Schedule, peer: SecretKey,
        done: EventLoopPromise<LaneOutcome>
    ) {
        self.load = load
        self.lane = lane
        self.loop = loop
        self.tickets = tickets
        self.schedule = schedule
        self.peer = peer
        self.done = done
        self.server = load.servers[lane % load.servers.count]
    }

    func connect() {
        ClientBootstrap(group: self.loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawRequestWriter())
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                    try channel.pipeline.syncOperations.addHandler(HTTPLaneHandler(lane: self))
                }
            }
            .connect(host: self.server.host, port: self.server.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.channel = channel
                    self.next()
                case .failure:
                    self.connectionLost()
                }
            }
    }

    /// Takes the next ticket and writes its request when it is due; finishes when the schedule or the grants end.
    private func next() {
        guard !self.finished, self.channel != nil else { return }
        let now = ContinuousClock.now
        if now < self.schedule.start {
            self.loop.scheduleTask(in: .nanoseconds(now.duration(to: self.schedule.start).nanosecondsClamped)) { self.next() }
            return
        }
        guard let due = self.tickets.take(), let grant = self.load.picker.grant(lane: self.lane, lanes: self.load.lanes, sequence: self.sequence) else {
            return self.finish()
        }
        let request = InFlight(
            due: due, operation: self.load.mix[self.sequence % self.load.mix.count], grant: grant, content: "loadgen \(self.lane)-\(self.sequence)"
        )
        self.sequence += 1
        if due > now {
            self.loop.scheduleTask(in: .nanoseconds(now.duration(to: due).nanosecondsClamped)) { self.send(request) }
        } else {
            self.send(request)
        }
    }

    private func send(_ request: InFlight) {
        guard let channel = self.channel else {
            if request.due >= self.schedule.measuredFrom { self.outcome.fail(request.operation.rawValue, "connection_lost") }
            return
        }
        let body: String
        switch request.operation {
        case .signEvent:
            body = #"{"method":"sign_event","params":[{"kind":1,"content":""# + request.content + #"","tags":[],"created_at":1700000000}]}"#
        case .getPublicKey:
            body = #"{"method":"get_public_key","params":[]}"#
        case .nip44Encrypt:
            body = #"{"method":"nip44_encrypt","params":[""# + self.peer.publicKey.hex + #"",""# + request.content + #""]}"#
        }
        var buffer = channel.allocator.buffer(capacity: 256 + body.utf8.count)
        buffer.writeString("POST /api/nostr HTTP/1.1\r\nHost: ")
        buffer.writeString(self.server.hostHeader)
        buffer.writeString("\r\nAuthorization: Bearer ")
        buffer.writeString(request.grant.accessToken)
        buffer.writeString("\r\nContent-Type: application/json\r\nContent-Length: ")
        buffer.writeString(String(body.utf8.count))
        buffer.writeString("\r\n\r\n")
        buffer.writeString(body)
        self.inFlight = request
        // The decoder must see each request's head (it decides whether a response has a body); the writer below it
        // sends the bytes instead.
        channel.write(HTTPClientRequestPart.head(Self.head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
    }

    fileprivate func received(_ part: HTTPClientResponsePart) {
        switch part {
        case .head(let head):
            self.status = Int(head.status.code)
            self.body.removeAll(keepingCapacity: true)
        case .body(let buffer):
            self.body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let request = self.inFlight else { return }
            self.inFlight = nil
            self.record(request, at: .now)
            self.next()
        }
    }

    private func record(_ request: InFlight, at now: ContinuousClock.Instant) {
        guard request.due >= self.schedule.measuredFrom else { return }
        let operation = request.operation.rawValue
        guard self.status == 200 else {
            return self.outcome.fail(operation, ReplyCheck.httpErrorCode(status: self.status, body: self.body))
        }
        let check: ReplyCheck
        switch request.operation {
        case .signEvent:
            check = .httpSignedEvent(body: self.body, user: request.grant.user, content: request.content)
        case .getPublicKey:
            check = .httpPublicKey(body: self.body, user: request.grant.user)
        case .nip44Encrypt:
            let user = request.grant.user
            if self.conversationKeys[user] == nil { self.conversationKeys[user] = try? NIP44ConversationKey(secretKey: self.peer, publicKey: user) }
            guard let key = self.conversationKeys[user] else { return self.outcome.fail(operation, "invalid_reply") }
            check = .httpNip44(body: self.body, conversationKey: key, plaintext: request.content)
        }
        self.outcome.pending.append(PendingReply(operation: operation, latency: request.due.duration(to: now), check: check))
    }

    /// The connection failed or closed: counts the request it carried, and connects again unless time is up.
    fileprivate func connectionLost() {
        self.channel = nil
        if let request = self.inFlight {
            self.inFlight = nil
            if request.due >= self.schedule.measuredFrom { self.outcome.fail(request.operation.rawValue, "connection_lost") }
        }
        guard !self.finished else { return }
        guard ContinuousClock.now < self.schedule.end else { return self.finish() }
        self.loop.scheduleTask(in: .milliseconds(50)) { self.connect() }
    }

    private func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.channel?.close(promise: nil)
        self.done.succeed(self.outcome)
    }
}

/// Writes a request's bytes as the lane made them: the head part, there only for the response decoder, is dropped.
private final class RawRequestWriter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .body(.byteBuffer(let bytes)):
            context.write(self.wrapOutboundOut(bytes), promise: promise)
        case .head, .body, .end:
            promise?.succeed(())
        }
    }
}

/// Hands a lane's connection events to it.
private final class HTTPLaneHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let lane: HTTPLane

    init(lane: HTTPLane) { self.lane = lane }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.lane.received(self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.lane.connectionLost()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension Duration {
    /// Whole nanoseconds, for NIO's `TimeAmount`; clamped to Int64.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
