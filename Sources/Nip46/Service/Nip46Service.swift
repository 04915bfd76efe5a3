import CoreMetrics
import Logging
import Metrics
import NostrCrypto
import Synchronization

/// Settings of the NIP-46 service.
public struct Nip46ServiceConfiguration: Sendable, Hashable {
    /// The daemon's relays: subscribed to every kind-24133 event, and where replies go for authorizations without
    /// relays of their own.
    public var relays: [String]
    /// Workers handling requests (decrypt, authorize, sign, encrypt, publish).
    public var workers: Int
    /// Requests waiting for a worker; beyond this they are answered `busy:`.
    public var queueCapacity: Int
    /// Replies being published at once. Workers hand replies over and go on to the next request instead of waiting
    /// for the relays' OK; when this many are in flight (and as many more queued), workers publish themselves.
    public var concurrentPublishes: Int
    /// Encrypted content longer than this is dropped before decryption (NIP-44's largest payload is 87,472
    /// characters; NIP-04's is bounded at 100,000 here).
    public var maximumContentBytes: Int
    /// Requests whose `created_at` is further than this from now, either way, are dropped.
    public var createdAtWindow: Int64
    /// How far back subscriptions reach when (re)connecting, for clients whose clocks run a little behind.
    public var subscriptionLookback: Duration
    /// How long an event id is remembered to drop duplicates, and how many are remembered.
    public var seenEventsTimeToLive: Int64
    public var seenEventsCapacity: Int
    /// How many (bunker, client) transport keys are kept, and for how many seconds, so a session pays one ECDH
    /// rather than one per request. A capacity of 0 turns the cache off.
    public var transportKeyCacheCapacity: Int
    public var transportKeyTimeToLive: Int64
    /// In a cluster: how long a request another instance owned is kept, to be answered here if that instance leaves
    /// or dies first (``RequestOwnership``), and how many are kept.
    public var declinedRequestWindow: Duration
    public var declinedRequestCapacity: Int
    /// Connection settings for every relay.
    public var relay: RelayConfiguration

    public init(
        relays: [String],
        workers: Int = 2,
        queueCapacity: Int = 4096,
        concurrentPublishes: Int = 256,
        maximumContentBytes: Int = 100_000,
        createdAtWindow: Int64 = 600,
        subscriptionLookback: Duration = .seconds(10),
        seenEventsTimeToLive: Int64 = 1200,
        seenEventsCapacity: Int = 200_000,
        transportKeyCacheCapacity: Int = 16_384,
        transportKeyTimeToLive: Int64 = 600,
        declinedRequestWindow: Duration = .seconds(10),
        declinedRequestCapacity: Int = 20_000,
        relay: RelayConfiguration = .init()
    ) {
        self.relays = relays
        self.workers = workers
        self.queueCapacity = queueCapacity
        self.concurrentPublishes = concurrentPublishes
        self.maximumContentBytes = maximumContentBytes
        self.createdAtWindow = createdAtWindow
        self.subscriptionLookback = subscriptionLookback
        self.seenEventsTimeToLive = seenEventsTimeToLive
        self.seenEventsCapacity = seenEventsCapacity
        self.transportKeyCacheCapacity = transportKeyCacheCapacity
        self.transportKeyTimeToLive = transportKeyTimeToLive
        self.declinedRequestWindow = declinedRequestWindow
        self.declinedRequestCapacity = declinedRequestCapacity
        self.relay = relay
    }
}

/// The NIP-46 remote signer: kind-24133 events in from the relays, replies out, every request that decrypts
/// answered.
///
/// The path of an event: cheap checks on the relay's task (kind, size, `created_at` window, duplicate, addressed to
/// a bunker we hold), then a bounded queue; a worker verifies the signature, decrypts (NIP-44, or NIP-04 when the
/// content has `?iv=`), lets ``Nip46RequestHandler`` answer, encrypts the reply in the request's scheme, signs it
/// with the bunker key and publishes it.
public final class Nip46Service: Sendable {
    /// A request that passed the cheap checks, waiting for a worker (which verifies its signature first).
    struct Job: Sendable {
        let event: Event
        let bunker: PublicKey
        let relay: String
    }

    /// One signed reply waiting to be published.
    struct Outgoing: Sendable {
        let event: Event
        let relays: [String]
        let job: Job
    }

    /// Why an incoming event was not handled; the `reason` label of the drop counter.
    enum DropReason: String, CaseIterable {
        case wrongKind = "wrong_kind"
        case oversize
        case outsideWindow = "outside_window"
        case duplicate
        case noRecipient = "no_recipient"
        case unknownBunker = "unknown_bunker"
        case badSignature = "bad_signature"
        case undecryptable
        /// The store or KMS failed while unlocking the bunker key: there is no key to answer with.
        case unlockFailed = "unlock_failed"
        case overloaded
        /// Another instance of the cluster answered it (its claim came first).
        case claimedElsewhere = "claimed_elsewhere"
    }

    public let configuration: Nip46ServiceConfiguration
    private let keys: any BunkerKeys
    private let handler: Nip46RequestHandler
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    private let seen: SeenEvents
    private let transportKeys: TransportKeyCache
    /// Verifies, decrypts, signs: shared with the HTTP RPC when the daemon passes its pool in.
    private let signingPool: SigningPool
    /// Whether ``runWorkers()`` runs the signing pool (a pool passed in is run by its owner).
    private let ownsSigningPool: Bool
    /// Jobs handed to the signing pool and not yet finished, and who waits for them to be: a shared pool outlives
    /// this service, so shutdown waits for this service's own jobs before the relays close.
    private let pending = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))
    private let stopping = Atomic<Bool>(false)
    /// Answers `busy:` when the main queue is full; small, so a flood cannot grow it without bound either.
    private let overflow: WorkerPool<Job>
    /// Replies on their way to the relays.
    private let outbox: WorkerPool<Outgoing>
    private let metrics: Nip46Metrics
    private let relayPool = Mutex<RelayPool?>(nil)
    /// When this service was created (Unix seconds): subscriptions never reach back before it.
    private let startedAt: Int64
    /// Bunkers listening on relays apps named (nostrconnect, an authorization's own relays): who AUTHs there.
    private let bunkersByRelay = Mutex<[String: Set<PublicKey>]>([:])
    /// Which requests are this instance's in a cluster; `nil`: all of them.
    private let ownership: (any RequestOwnership)?
    private let declined: DeclinedRequests
    /// Where replies go; the relay pool unless a test captures them.
    private let publisher: (@Sendable (_ event: Event, _ relays: [String]) async -> String?)?

    public static let subscriptionID = "nip46"

    public convenience init(
        configuration: Nip46ServiceConfiguration,
        keys: any BunkerKeys,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        signingPool: SigningPool? = nil,
        ownership: (any RequestOwnership)? = nil,
        clock: @escaping @Sendable () -> Int64
    ) {
        self.init(
            configuration: configuration, keys: keys, logger: logger, metricsFactory: metricsFactory, signingPool: signingPool,
            ownership: ownership, clock: clock, publisher: nil
        )
    }

    /// - Parameters:
    ///   - signingPool: the daemon's pool, shared with the HTTP RPC, and run by the daemon; `nil`: the service makes
    ///     its own from `workers` and `queueCapacity` and runs it.
    ///   - ownership: in a cluster, which requests are this instance's (``ownershipChanged()`` when that changes).
    ///   - publisher: replaces publishing through the relays (tests read the replies this way).
    init(
        configuration: Nip46ServiceConfiguration,
        keys: any BunkerKeys,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        signingPool: SigningPool? = nil,
        ownership: (any RequestOwnership)? = nil,
        clock: @escaping @Sendable () -> Int64,
        publisher: (@Sendable (_ event: Event, _ relays: [String]) async -> String?)?
    ) {
        self.publisher = publisher
        self.ownership = ownership
        self.declined = DeclinedRequests(window: configuration.declinedRequestWindow, capacity: configuration.declinedRequestCapacity)
        self.startedAt = clock()
        self.configuration = configuration
        self.keys = keys
        self.handler = Nip46RequestHandler(keys: keys, clock: clock)
        self.logger = logger
        self.clock = clock
        self.seen = SeenEvents(capacity: configuration.seenEventsCapacity, timeToLive: configuration.seenEventsTimeToLive)
        self.transportKeys = TransportKeyCache(
            capacity: configuration.transportKeyCacheCapacity,
            timeToLive: configuration.transportKeyTimeToLive
        )
        self.signingPool = signingPool ?? SigningPool(workers: configuration.workers, queueCapacity: configuration.queueCapacity)
        self.ownsSigningPool = signingPool == nil
        self.overflow = WorkerPool(capacity: 1024, workers: 1)
        self.outbox = WorkerPool(capacity: configuration.queueCapacity, workers: configuration.concurrentPublishes)
        self.metrics = Nip46Metrics(factory: metricsFactory)
    }

    /// The relay pool, once ``run()`` has started.
    public var relays: RelayPool? { self.relayPool.withLock { $0 } }

    /// How many of the daemon's relays (``Nip46ServiceConfiguration/relays``) have their subscription up now.
    public var subscribedRelayCount: Int {
        guard let pool = self.relays else { return 0 }
        return self.configuration.relays.filter { pool.connection(for: $0)?.state == .subscribed }.count
    }

    /// Connects to the relays and serves until cancelled; then stops taking requests, answers those already queued,
    /// and disconnects.
    public func run() async {
        let relayPool = RelayPool(
            configuration: self.configuration.relay, logger: self.logger, clock: self.clock,
            authenticate: { [weak self] challenge, relay in await self?.authenticationEvents(challenge: challenge, relay: relay) ?? [] },
            deliver: { [weak self] delivery in self?.ingest(delivery) }
        )
        self.relayPool.withLock { $0 = relayPool }
        for url in self.configuration.relays {
            await relayPool.add(url, metricsLabel: url, subscriptions: [Self.subscriptionID: self.firehose])
        }
        await self.runWorkers()
        await relayPool.shutdown()
    }

    /// The workers alone (``run()`` adds the relays); until cancelled, then the queues drain and every job this
    /// service queued is finished.
    func runWorkers() async {
        await withTaskGroup(of: Void.self) { group in
            if self.ownsSigningPool {
                group.addTask { await self.signingPool.run() }
            }
            group.addTask(executorPreference: SigningThreads.shared) {
                await self.overflow.run { job, _ in await self.answerBusy(job) }
            }
            group.addTask {
                await self.outbox.run { outgoing, _ in await self.send(outgoing) }
            }
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                self.stopping.store(true, ordering: .relaxed)
            }
        }
        await self.pendingJobsFinished()
    }

    /// Hands `job` to the signing pool; `false` when it is full or the service is stopping.
    private func submit(_ job: Job) -> Bool {
        guard !self.stopping.load(ordering: .relaxed) else { return false }
        self.pending.withLock { $0.count += 1 }
        let accepted = self.signingPool.submit { waited in
            self.metrics.queueWait.record(duration: waited)
            self.metrics.queueDepth.record(self.signingPool.depth)
            await self.process(job)
            self.jobFinished()
        }
        if !accepted { self.jobFinished() }
        return accepted
    }

    private func jobFinished() {
        let waiters = self.pending.withLock { pending -> [CheckedContinuation<Void, Never>] in
            pending.count -= 1
            guard pending.count == 0 else { return [] }
            defer { pending.waiters = [] }
            return pending.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func pendingJobsFinished() async {
        await withCheckedContinuation { continuation in
            let finished = self.pending.withLock { pending in
                if pending.count == 0 { return true }
                pending.waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    /// Every kind-24133 event from now on (less the lookback, but nothing from before this process started);
    /// unknown recipients are dropped in memory.
    private var firehose: Subscription {
        Subscription(filters: [Filter(kinds: [nip46EventKind])], lookback: self.configuration.subscriptionLookback, notBefore: self.startedAt)
    }

    /// Also listens on `urls` for requests to `bunkers` (a nostrconnect URI's relays, an authorization's own).
    public func listen(on urls: [String], for bunkers: [PublicKey]) async {
        guard let relayPool = self.relays else { return }
        for url in urls where !self.configuration.relays.contains(url) {
            self.bunkersByRelay.withLock { $0[url, default: []].formUnion(bunkers) }
            let connection = await relayPool.add(url, metricsLabel: "app", subscriptions: [:])
            await connection.setSubscription(
                id: "nip46-" + (bunkers.first?.hex.prefix(16) ?? "none"),
                Subscription(
                    filters: [Filter(kinds: [nip46EventKind], pTags: bunkers.map(\.hex))], lookback: self.configuration.subscriptionLookback,
                    notBefore: self.startedAt
                )
            )
        }
    }

    /// The client-initiated flow: tells the app behind `uri` that `session` accepts it, by publishing a connect
    /// response whose result is the URI's secret, on the URI's relays (which this service now also listens on).
    /// - Returns: whether a relay accepted the response.
    public func acceptNostrConnect(_ uri: NostrConnectURI, session: any BunkerSession) async -> Bool {
        await self.listen(on: uri.relays, for: [session.bunkerKey.publicKey])
        let response = Nip46Response.result(uri.secret, id: Hex.encode(SystemRandom.bytes(count: 16)))
        guard let key = try? NIP44ConversationKey(secretKey: session.bunkerKey, publicKey: uri.clientPublicKey),
            let event = try? self.replyEvent(response, scheme: .nip44(key), bunkerKey: session.bunkerKey, client: uri.clientPublicKey)
        else {
            return false
        }
        // The relays were just added; give the connections a moment by letting publish retry.
        return await self.publish(event, to: uri.relays) != nil
    }

    private func publish(_ event: Event, to relays: [String]) async -> String? {
        if let publisher = self.publisher { return await publisher(event, relays) }
        return await self.relays?.publish(event, to: relays)
    }

    /// The most bunker keys that AUTH on one relay connection.
    static let maximumAuthenticatedBunkers = 16

    /// NIP-42: kind-22242 events answering `challenge`, one per bunker listening on `relay`, each signed with its
    /// bunker (transport) key and never with a user key. The daemon's own relays get none: a relay that withholds
    /// kind 24133 until AUTH cannot serve a firehose of every bunker, and must be configured to deliver them.
    func authenticationEvents(challenge: String, relay: String) async -> [Event] {
        let bunkers = self.bunkersByRelay.withLock { $0[relay] ?? [] }.prefix(Self.maximumAuthenticatedBunkers)
        var events: [Event] = []
        for bunker in bunkers {
            guard let session = try? await self.keys.session(for: bunker) else { continue }
            let unsigned = UnsignedEvent(createdAt: self.clock(), kind: 22242, tags: [["relay", relay], ["challenge", challenge]], content: "")
            if let event = try? unsigned.signed(with: session.bunkerKey) { events.append(event) }
        }
        return events
    }

    // MARK: Ingest (on the relay's task: cheap checks only)

    func ingest(_ delivery: RelayDelivery) {
        let event = delivery.event
        self.metrics.received.increment()
        guard event.kind == nip46EventKind else { return self.drop(.wrongKind) }
        guard event.content.utf8.count <= self.configuration.maximumContentBytes else { return self.drop(.oversize) }
        let now = self.clock()
        let age = now.subtractingReportingOverflow(event.createdAt)
        guard !age.overflow, age.partialValue.magnitude <= UInt64(self.configuration.createdAtWindow) else {
            return self.drop(.outsideWindow)
        }
        guard !self.seen.contains(event.id, now: now) else { return self.drop(.duplicate) }
        guard let recipient = event.tags.first(where: { $0.count >= 2 && $0[0] == "p" })?[1], let bunker = try? PublicKey(hex: recipient) else {
            return self.drop(.noRecipient)
        }
        guard self.keys.isKnownBunker(bunker) else { return self.drop(.unknownBunker) }
        // The signature is checked by the worker: verifying here would slow the relay's read loop, and a relay
        // drops events for subscribers that fall behind.
        let job = Job(event: event, bunker: bunker, relay: delivery.relay)
        if let ownership = self.ownership, !ownership.owns(bunker) {
            self.metrics.notOwner.increment()
            self.declined.insert(job, at: .now)
            return
        }
        self.enqueue(job)
    }

    /// The ring changed: answers the recently declined requests that are this instance's now (each is claimed
    /// first, so one the previous owner answered is not answered again).
    public func ownershipChanged() {
        guard let ownership = self.ownership else { return }
        let jobs = self.declined.takeOwned(at: .now) { ownership.owns($0) }
        if !jobs.isEmpty { self.logger.info("answering requests handed over by the ring", metadata: ["count": "\(jobs.count)"]) }
        for job in jobs { self.enqueue(job) }
    }

    private func enqueue(_ job: Job) {
        let event = job.event
        if self.submit(job) {
            self.metrics.queueDepth.record(self.signingPool.depth)
        } else if self.stopping.load(ordering: .relaxed) {
            // Shutting down: the relays close next, and a request taken now might not be answered before they do.
            self.drop(.overloaded)
        } else if !self.overflow.submit(job) {
            self.drop(.overloaded)
            self.logger.warning("NIP-46 queue and overflow queue full; request dropped", metadata: ["event": "\(event.id)"])
        }
    }

    /// The signature, then the duplicate check: only a verified event may claim its id, so a forged copy cannot
    /// shadow the real request.
    private func admit(_ job: Job) -> Bool {
        guard job.event.isValid else {
            self.drop(.badSignature)
            return false
        }
        guard self.seen.insert(job.event.id, now: self.clock()) else {
            self.drop(.duplicate)
            return false
        }
        return true
    }

    /// In a cluster, whether this instance may answer: after the signature check, so a forged copy cannot take a
    /// real request's claim.
    private func claim(_ job: Job) async -> Bool {
        guard let ownership = self.ownership else { return true }
        guard await ownership.claim(job.event.id) else {
            self.drop(.claimedElsewhere)
            return false
        }
        return true
    }

    private func drop(_ reason: DropReason) {
        self.metrics.dropped(reason).increment()
    }

    // MARK: Workers

    /// The transport encryption a request used, and its reply uses, with the key derived for it: one ECDH serves
    /// both the request and its reply.
    enum Scheme: Sendable {
        case nip44(NIP44ConversationKey)
        case nip04(NIP04SharedKey)
    }

    func process(_ job: Job) async {
        let start = ContinuousClock.now
        guard self.admit(job), await self.claim(job) else { return }
        guard let (session, request, scheme) = await self.open(job) else { return }
        let response: Nip46Response
        switch request {
        case .success(let request):
            response = await self.handler.handle(request, client: job.event.pubkey, session: session, relay: job.relay)
            self.metrics.request(method: request.method, outcome: Self.outcome(of: response)).increment()
        case .failure(let error):
            response = .failure(Nip46Error(.invalid, error.reason), id: error.id ?? "")
            self.metrics.request(method: nil, outcome: "invalid").increment()
        }
        await self.reply(response, scheme: scheme, session: session, job: job)
        self.metrics.processing.record(duration: start.duration(to: .now))
    }

    /// Answers `busy:` without doing the work.
    func answerBusy(_ job: Job) async {
        guard self.admit(job), await self.claim(job) else { return }
        guard let (session, request, scheme) = await self.open(job) else { return }
        let id = (try? request.get().id) ?? ""
        self.metrics.request(method: nil, outcome: Nip46Error.Code.busy.rawValue).increment()
        await self.reply(.failure(Nip46Error(.busy, "the signer is overloaded; retry in a moment"), id: id), scheme: scheme, session: session, job: job)
    }

    /// Unlocks the bunker and decrypts the request; `nil` (counted) when there is no one to answer safely.
    private func open(_ job: Job) async -> (any BunkerSession, Result<Nip46Request, Nip46RequestError>, Scheme)? {
        let session: (any BunkerSession)?
        do {
            session = try await self.keys.session(for: job.bunker)
        } catch {
            self.logger.error("could not unlock a bunker key", metadata: ["bunker": "\(job.bunker)", "error": "\(error)"])
            self.drop(.unlockFailed)
            return nil
        }
        guard let session else {
            self.drop(.unknownBunker)
            return nil
        }
        let scheme: Scheme
        let plaintext: String
        do {
            let nip04 = NIP04.looksLikeNIP04(job.event.content)
            let cacheKey = TransportKeyCache.Key(bunker: job.bunker, client: job.event.pubkey, nip04: nip04)
            scheme = try self.transportKeys.scheme(for: cacheKey, now: self.clock()) {
                nip04
                    ? .nip04(try NIP04SharedKey(secretKey: session.bunkerKey, publicKey: job.event.pubkey))
                    : .nip44(try NIP44ConversationKey(secretKey: session.bunkerKey, publicKey: job.event.pubkey))
            }
            switch scheme {
            case .nip04(let key): plaintext = try NIP04.decrypt(job.event.content, sharedKey: key)
            case .nip44(let key): plaintext = try NIP44.decrypt(job.event.content, conversationKey: key)
            }
        } catch {
            self.drop(.undecryptable)
            return nil
        }
        do {
            return (session, .success(try Nip46Request(json: plaintext)), scheme)
        } catch {
            return (session, .failure(error), scheme)
        }
    }

    private func reply(_ response: Nip46Response, scheme: Scheme, session: any BunkerSession, job: Job) async {
        let event: Event
        do {
            event = try self.replyEvent(response, scheme: scheme, bunkerKey: session.bunkerKey, client: job.event.pubkey)
        } catch {
            self.logger.error("could not build a reply", metadata: ["error": "\(error)"])
            return
        }
        var targets = session.relays.isEmpty ? self.configuration.relays : session.relays
        if !targets.contains(job.relay) { targets.append(job.relay) }
        let outgoing = Outgoing(event: event, relays: targets, job: job)
        if !self.outbox.submit(outgoing) { await self.send(outgoing) }
    }

    private func send(_ outgoing: Outgoing) async {
        if await self.publish(outgoing.event, to: outgoing.relays) == nil {
            self.metrics.unpublished.increment()
            self.logger.warning("no relay accepted a reply", metadata: ["bunker": "\(outgoing.job.bunker)", "request": "\(outgoing.job.event.id)"])
        }
    }

    private func replyEvent(_ response: Nip46Response, scheme: Scheme, bunkerKey: SecretKey, client: PublicKey) throws -> Event {
        let text = response.encoded()
        let content: String
        switch scheme {
        case .nip44(let key): content = try NIP44.encrypt(text, conversationKey: key)
        case .nip04(let key): content = try NIP04.encrypt(text, sharedKey: key)
        }
        return try UnsignedEvent(createdAt: self.clock(), kind: nip46EventKind, tags: [["p", client.hex]], content: content).signed(with: bunkerKey)
    }

    private static func outcome(of response: Nip46Response) -> String {
        guard let error = response.error else { return "ok" }
        let code = error.prefix(while: { $0 != ":" })
        return Nip46Error.Code(rawValue: String(code))?.rawValue ?? "error"
    }
}

/// The service's metrics; every label set is bounded (methods outside the ten are counted as `other`).
struct Nip46Metrics: Sendable {
    let received: Counter
    let unpublished: Counter
    /// Requests for bunkers another cluster member owns (kept a while in case it leaves or dies).
    let notOwner: Counter
    let queueDepth: Gauge
    let queueWait: Timer
    let processing: Timer
    private let drops: [String: Counter]
    private let requests: [String: Counter]

    init(factory: any MetricsFactory) {
        self.received = Counter(label: "signer_nip46_events_received_total", factory: factory)
        self.unpublished = Counter(label: "signer_nip46_replies_unpublished_total", factory: factory)
        self.notOwner = Counter(label: "signer_nip46_rejected_not_owner_total", factory: factory)
        self.queueDepth = Gauge(label: "signer_nip46_queue_depth", factory: factory)
        self.queueWait = Timer(label: "signer_nip46_queue_wait_seconds", preferredDisplayUnit: .seconds, factory: factory)
        self.processing = Timer(label: "signer_nip46_processing_seconds", preferredDisplayUnit: .seconds, factory: factory)
        var drops: [String: Counter] = [:]
        for reason in Nip46Service.DropReason.allCases {
            drops[reason.rawValue] = Counter(label: "signer_nip46_events_dropped_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.drops = drops
        var requests: [String: Counter] = [:]
        let methods = Nip46RequestHandler.Method.allCases.map(\.rawValue) + ["other", "none"]
        let outcomes = ["ok"] + Nip46Error.Code.allCases.map(\.rawValue)
        for method in methods {
            for outcome in outcomes {
                requests[method + "|" + outcome] = Counter(
                    label: "signer_nip46_requests_total", dimensions: [("method", method), ("outcome", outcome)], factory: factory
                )
            }
        }
        self.requests = requests
    }

    func dropped(_ reason: Nip46Service.DropReason) -> Counter { self.drops[reason.rawValue]! }

    /// `method` nil: the request could not be read far enough to know it.
    func request(method: String?, outcome: String) -> Counter {
        let name = method.map { Nip46RequestHandler.Method(rawValue: $0) == nil ? "other" : $0 } ?? "none"
        return self.requests[name + "|" + outcome] ?? self.requests[name + "|error"]!
    }
}
