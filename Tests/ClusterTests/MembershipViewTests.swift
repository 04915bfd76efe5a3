import Testing

@testable import Cluster

@Suite("Membership view")
struct MembershipViewTests {
    let me = MemberID("me")
    let other = MemberID("other")
    let third = MemberID("third")
    let start = ContinuousClock.now

    func view() -> MembershipView { MembershipView(me: self.me, expiry: .seconds(6)) }

    @Test("expiries are placed on the local clock from Redis's time, and members leave the ring exactly then")
    func expiry() {
        var view = self.view()
        do {
            let changed = view.joined()
            #expect(changed)
        }
        // Redis says it is 10,000 ms; `other` last beat at 9,000, so it expires 5 s after the reply arrived.
        do {
            let changed = view.received(redisNow: 10_000, heartbeats: [self.me: 10_000, self.other: 9_000], at: self.start)
            #expect(changed)
        }
        #expect(view.ring.members == [self.me, self.other])
        #expect(view.nextExpiry == self.start + .seconds(5))
        do {
            let changed = view.expire(at: self.start + .milliseconds(4_999))
            #expect(!changed)
        }
        do {
            let changed = view.expire(at: self.start + .seconds(5))
            #expect(changed)
        }
        #expect(view.ring.members == [self.me])
        #expect(view.rebuilds == 3)
    }

    @Test("a reply that arrives late never moves an expiry back")
    func outOfOrder() {
        var view = self.view()
        _ = view.received(redisNow: 10_000, heartbeats: [self.other: 10_000], at: self.start)
        _ = view.received(redisNow: 8_000, heartbeats: [self.other: 6_000], at: self.start + .milliseconds(10))
        #expect(view.nextExpiry == self.start + .seconds(6))
    }

    @Test("not joined: the ring holds the others, and this instance owns nothing")
    func notJoined() {
        var view = self.view()
        _ = view.received(redisNow: 0, heartbeats: [self.other: 0, self.me: 0], at: self.start)
        #expect(view.ring.members == [self.other])
        #expect(!view.owns([UInt8](repeating: 7, count: 32)))
        do {
            let changed = view.joined()
            #expect(changed)
        }
        #expect(view.ring.members == [self.me, self.other])
        do {
            let changed = view.left()
            #expect(changed)
        }
        #expect(view.ring.members == [self.other])
    }

    @Test("a leave removes the member at once; one for this instance is ignored")
    func leave() {
        var view = self.view()
        _ = view.joined()
        _ = view.received(redisNow: 0, heartbeats: [self.me: 0, self.other: 0], at: self.start)
        do {
            let changed = view.memberLeft(self.me)
            #expect(!changed)
        }
        do {
            let changed = view.memberLeft(self.other)
            #expect(changed)
        }
        #expect(view.ring.members == [self.me])
    }

    @Test("while Redis is unreachable the ring is kept; out of contact only after the expiry")
    func outage() {
        var view = self.view()
        _ = view.joined()
        _ = view.received(redisNow: 0, heartbeats: [self.me: 0, self.other: 0], at: self.start)
        view.unreachable()
        do {
            let changed = view.expire(at: self.start + .seconds(60))
            #expect(!changed)
        }
        #expect(view.ring.members == [self.me, self.other])
        #expect(!view.isOutOfContact(at: self.start + .seconds(6)))
        #expect(view.isOutOfContact(at: self.start + .milliseconds(6_001)))
    }

    @Test("after an outage, members Redis no longer lists get one expiry to heartbeat again (Redis may have restarted empty)")
    func recovery() {
        var view = self.view()
        _ = view.joined()
        _ = view.received(redisNow: 0, heartbeats: [self.me: 0, self.other: 0, self.third: 0], at: self.start)
        view.unreachable()
        // Back 20 s later: Redis lost everything but this heartbeat's own entry.
        let back = self.start + .seconds(20)
        do {
            let changed = view.received(redisNow: 50, heartbeats: [self.me: 50], at: back)
            #expect(!changed)
        }
        #expect(view.ring.members == [self.me, self.other, self.third])
        do {
            let changed = view.received(redisNow: 1_050, heartbeats: [self.me: 1_050, self.other: 1_000], at: back + .seconds(1))
            #expect(!changed)
        }
        do {
            let changed = view.expire(at: back + .seconds(6))
            #expect(changed)
        }
        #expect(view.ring.members == [self.me, self.other])
        #expect(!view.isOutOfContact(at: back + .seconds(60)))
    }
}
