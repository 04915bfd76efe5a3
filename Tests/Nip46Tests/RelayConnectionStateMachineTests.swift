import Nip46
import NostrCrypto
import Testing

struct RelayConnectionStateMachineTests {
    func machine() -> RelayConnectionStateMachine {
        RelayConnectionStateMachine(backoff: Backoff(base: .seconds(1), maximum: .seconds(8)), random: { 1 })
    }

    @Test("connect, subscribe, EOSE: subscribed")
    func happyPath() {
        var machine = self.machine()
        #expect(machine.start() == .connect)
        #expect(machine.state == .connecting(attempt: 0))
        #expect(machine.connected(subscriptions: ["b", "a"]) == .subscribe(["a", "b"]))
        #expect(machine.state == .connected(pending: ["a", "b"]))
        machine.endOfStoredEvents(subscriptionID: "a")
        #expect(machine.state == .connected(pending: ["b"]))
        machine.endOfStoredEvents(subscriptionID: "b")
        #expect(machine.state == .subscribed)
        #expect(machine.isConnected)
    }

    @Test("failures back off exponentially up to the cap; EOSE resets the count")
    func backoff() {
        var machine = self.machine()
        _ = machine.start()
        var delays: [Duration] = []
        for _ in 0..<6 {
            guard case .reconnect(let delay) = machine.disconnected() else { Issue.record("no reconnect"); return }
            delays.append(delay)
            #expect(machine.backoffElapsed() == .connect)
        }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)])
        _ = machine.connected(subscriptions: ["s"])
        machine.endOfStoredEvents(subscriptionID: "s")
        #expect(machine.disconnected() == .reconnect(after: .seconds(1)))
        #expect(machine.state == .backoff(attempt: 0))
    }

    @Test("a relay that accepts the socket but refuses the subscription is not retried at full speed")
    func refusedSubscriptionKeepsBackingOff() {
        var machine = self.machine()
        _ = machine.start()
        for expected in [Duration.seconds(1), .seconds(2), .seconds(4)] {
            #expect(machine.connected(subscriptions: ["s"]) == .subscribe(["s"]))
            #expect(machine.subscriptionClosed("s", rejection: .restricted) == .closeConnection)
            #expect(machine.disconnected() == .reconnect(after: expected))
            _ = machine.backoffElapsed()
        }
    }

    @Test("auth-required: AUTH with the challenge, then the closed subscription again")
    func authentication() {
        var machine = self.machine()
        _ = machine.start()
        _ = machine.connected(subscriptions: ["s"])
        #expect(machine.subscriptionClosed("s", rejection: .authRequired) == .none)
        #expect(machine.authenticationChallenge("c1") == .authenticate(challenge: "c1"))
        #expect(machine.authenticated() == .subscribe(["s"]))
        #expect(machine.authenticated() == .none)
        machine.endOfStoredEvents(subscriptionID: "s")
        #expect(machine.state == .subscribed)
        // A challenge that came first is answered as soon as a subscription needs it.
        #expect(machine.subscriptionClosed("s", rejection: .authRequired) == .authenticate(challenge: "c1"))
    }

    @Test("subscriptions added while connected are sent; stopped stays stopped")
    func addAndStop() {
        var machine = self.machine()
        #expect(machine.subscriptionAdded("x") == .none)
        _ = machine.start()
        _ = machine.connected(subscriptions: [])
        #expect(machine.state == .subscribed)
        #expect(machine.subscriptionAdded("x") == .subscribe(["x"]))
        #expect(machine.state == .connected(pending: ["x"]))
        machine.stop()
        #expect(machine.disconnected() == .none)
        #expect(machine.backoffElapsed() == .none)
        #expect(machine.state == .stopped)
    }

    @Test("backoff jitter stays within half to all of the window")
    func jitter() {
        let backoff = Backoff(base: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.delay(attempt: 0, unit: 0) == .milliseconds(50))
        #expect(backoff.delay(attempt: 2, unit: 1) == .milliseconds(400))
        #expect(backoff.delay(attempt: 40, unit: 1) == .seconds(1))
        #expect(backoff.delay(attempt: -3, unit: 0.5) == .milliseconds(75))
    }
}
