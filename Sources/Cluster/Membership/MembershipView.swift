/// One instance's view of the cluster's members, as a value: heartbeat replies, leave messages and the passing of
/// time go in; the live member set comes out, and the ring is rebuilt only when that set changes.
///
/// Times are this process's `ContinuousClock`. A heartbeat reply carries Redis's clock (`TIME`) and every member's
/// last heartbeat on that clock, so each member's expiry is placed on the local clock without trusting other
/// machines' clocks: `expires = replyArrived + (lastHeartbeat + expiry - redisNow)`.
struct MembershipView: Sendable {
    struct Member: Sendable, Hashable {
        var expiresAt: ContinuousClock.Instant
    }

    let me: MemberID
    let expiry: Duration
    private(set) var members: [MemberID: Member] = [:]
    /// Whether this instance is in the ring itself (joined, and not leaving).
    private(set) var isJoined = false
    /// The last successful heartbeat or read, and whether the latest attempt failed.
    private(set) var lastContact: ContinuousClock.Instant?
    private(set) var reachable = true
    private(set) var ring: HashRing
    /// How many times the ring was rebuilt because the member set changed.
    private(set) var rebuilds = 0

    init(me: MemberID, expiry: Duration) {
        self.me = me
        self.expiry = expiry
        self.ring = HashRing(members: [])
    }

    /// The members the ring is built from.
    var liveMembers: Set<MemberID> {
        var live = Set(self.members.keys)
        if self.isJoined { live.insert(self.me) } else { live.remove(self.me) }
        return live
    }

    /// Whether this instance answers `key` (a bunker's 32-byte public key).
    func owns(_ key: some Collection<UInt8>) -> Bool {
        self.isJoined && self.ring.owner(of: key) == self.me
    }

    /// The earliest moment a member expires, for the caller's timer.
    var nextExpiry: ContinuousClock.Instant? {
        self.members.filter { $0.key != self.me }.values.map(\.expiresAt).min()
    }

    // MARK: Inputs (each returns whether the ring changed)

    mutating func joined() -> Bool {
        self.isJoined = true
        return self.rebuildIfChanged()
    }

    mutating func left() -> Bool {
        self.isJoined = false
        return self.rebuildIfChanged()
    }

    /// A heartbeat or read reply: `redisNow` and each member's last heartbeat, in Redis milliseconds, received at
    /// `arrivedAt`.
    mutating func received(redisNow: Int64, heartbeats: [MemberID: Int64], at arrivedAt: ContinuousClock.Instant) -> Bool {
        let recovering = !self.reachable
        self.reachable = true
        self.lastContact = arrivedAt
        for (member, heartbeat) in heartbeats {
            let expiresAt = arrivedAt + .milliseconds(heartbeat - redisNow) + self.expiry
            // Replies may arrive out of order (a heartbeat and a read racing); never move an expiry back.
            self.members[member] = Member(expiresAt: max(expiresAt, self.members[member]?.expiresAt ?? expiresAt))
        }
        // A member missing from the reply either left (its leave message removes it) or Redis lost its entry (a
        // restart): keep it until its own expiry. After an outage, that expiry may already have passed while nobody
        // could heartbeat; give such members one expiry from now to show up again.
        if recovering {
            for (member, state) in self.members where heartbeats[member] == nil {
                self.members[member] = Member(expiresAt: max(state.expiresAt, arrivedAt + self.expiry))
            }
        }
        return self.expire(at: arrivedAt)
    }

    /// A heartbeat that failed: the ring is kept as it is, and nobody expires, until Redis answers again.
    mutating func unreachable() {
        self.reachable = false
    }

    /// A leave announcement.
    mutating func memberLeft(_ member: MemberID) -> Bool {
        guard member != self.me else { return false }
        self.members[member] = nil
        return self.rebuildIfChanged()
    }

    /// Drops members whose heartbeat expired by `now`; nothing expires while Redis is unreachable, so an outage
    /// keeps the last ring.
    mutating func expire(at now: ContinuousClock.Instant) -> Bool {
        if self.reachable {
            for (member, state) in self.members where member != self.me && state.expiresAt <= now {
                self.members[member] = nil
            }
        }
        return self.rebuildIfChanged()
    }

    /// Whether Redis has not answered for longer than the expiry (not ready: the others have dropped this instance).
    func isOutOfContact(at now: ContinuousClock.Instant) -> Bool {
        guard let lastContact = self.lastContact else { return !self.reachable }
        return !self.reachable && now - lastContact > self.expiry
    }

    private mutating func rebuildIfChanged() -> Bool {
        let live = self.liveMembers
        guard Set(self.ring.members) != live else { return false }
        self.ring = HashRing(members: live)
        self.rebuilds += 1
        return true
    }
}
