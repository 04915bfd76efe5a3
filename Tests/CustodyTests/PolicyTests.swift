import Custody
import NostrCrypto
import Synchronization
import Testing

struct PolicyTests {
    static func decision(_ policy: Policy, _ method: String, kind: UInt16? = nil, uses: Int64 = 0, now: Int64 = 1_000) -> String {
        switch PolicyEngine.evaluate(policy, request: PolicyRequest(methodName: method, kind: kind), usesSoFar: uses, now: now) {
        case .allow: "allow"
        case .deny(let denial): "\(denial.code.rawValue): \(denial)"
        }
    }

    @Test func socialCoversNIP17DirectMessages() {
        for kind: UInt16 in [0, 1, 3, 5, 6, 7, 13, 14, 16, 1111, 9734, 10002, 10050, 22242, 30023] {
            #expect(Self.decision(.social, "sign_event", kind: kind) == "allow", "kind \(kind)")
        }
        for method in ["get_public_key", "nip44_encrypt", "nip44_decrypt", "nip04_encrypt", "nip04_decrypt"] {
            #expect(Self.decision(.social, method) == "allow")
        }
        #expect(Self.decision(.social, "sign_event", kind: 4) == "kind_not_allowed: kind 4 is not allowed by policy \"social\"")
        #expect(Self.decision(.social, "sign_event", kind: 30078) == "kind_not_allowed: kind 30078 is not allowed by policy \"social\"")
    }

    @Test func messagingReadonlyAndFull() {
        #expect(Self.decision(.messaging, "sign_event", kind: 4) == "allow")
        #expect(Self.decision(.messaging, "sign_event", kind: 13) == "allow")
        #expect(Self.decision(.messaging, "sign_event", kind: 1) == "kind_not_allowed: kind 1 is not allowed by policy \"messaging\"")
        #expect(Self.decision(.readonly, "get_public_key") == "allow")
        #expect(Self.decision(.readonly, "nip44_decrypt") == "allow")
        #expect(Self.decision(.readonly, "nip04_decrypt") == "allow")
        #expect(Self.decision(.readonly, "nip44_encrypt") == "method_not_allowed: method \"nip44_encrypt\" is not allowed by policy \"readonly\"")
        #expect(Self.decision(.readonly, "sign_event", kind: 22242) == "method_not_allowed: method \"sign_event\" is not allowed by policy \"readonly\"")
        #expect(Self.decision(.full, "sign_event", kind: 65535) == "allow")
        #expect(Self.decision(.full, "nip04_encrypt") == "allow")
    }

    @Test func failsClosed() {
        #expect(Self.decision(.full, "connect") == "method_not_allowed: method \"connect\" is not allowed by policy \"full\"")
        #expect(Self.decision(.full, "sign_everything") == "method_not_allowed: method \"sign_everything\" is not allowed by policy \"full\"")
        #expect(Self.decision(.full, "a\nb c") == "method_not_allowed: method \"a?b?c\" is not allowed by policy \"full\"")
        #expect(Self.decision(.full, String(repeating: "x", count: 500)).count < 200)
        #expect(Self.decision(.full, "sign_event") == "missing_kind: sign_event needs an event kind")
    }

    @Test func expiryAndUsesAtTheirBoundaries() throws {
        let policy = try Policy(json: JSONValue.parse(#"{"name":"trial","methods":["sign_event"],"kinds":[1],"expires_at":2000,"max_uses":3}"#))
        #expect(Self.decision(policy, "sign_event", kind: 1, uses: 2, now: 1999) == "allow")
        #expect(Self.decision(policy, "sign_event", kind: 1, uses: 2, now: 2000) == "expired: policy \"trial\" expired")
        #expect(Self.decision(policy, "sign_event", kind: 1, uses: 3, now: 1999) == "exhausted: policy \"trial\" allows 3 uses and all are spent")
    }

    @Test func customPoliciesParseAndRoundTrip() throws {
        let text = #"{"name":"blog","methods":["sign_event","get_public_key"],"kinds":[1,"30000-39999",7],"rate_limit":{"per_minute":60,"per_day":1000},"expires_at":1900000000,"max_uses":500}"#
        let policy = try Policy(json: JSONValue.parse(text))
        #expect(policy.methods == [.signEvent, .getPublicKey])
        #expect(policy.kinds.contains(30023))
        #expect(policy.kinds.contains(7))
        #expect(!policy.kinds.contains(29999))
        #expect(policy.perMinute == 60 && policy.perDay == 1000)
        #expect(try Policy(json: policy.json()) == policy)
        #expect(policy.json().serialized() == #"{"expires_at":1900000000,"kinds":[1,7,"30000-39999"],"max_uses":500,"methods":["get_public_key","sign_event"],"name":"blog","rate_limit":{"per_day":1000,"per_minute":60}}"#)
        #expect(try Policy(stored: policy.storedForm) == policy)
        // Built-ins are stored by name.
        #expect(Policy.social.storedForm == "\"social\"")
        #expect(try Policy(stored: "\"social\"") == .social)
        #expect(try Policy(json: JSONValue.parse(#"{"name":"any","methods":["sign_event"],"kinds":"all"}"#)).kinds == .all)
    }

    static func parseError(_ text: String) -> String? {
        do {
            _ = try Policy(stored: text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func invalidDefinitionsAreRejectedWithTheField() {
        let cases: [(String, String)] = [
            (#""superuser""#, "unknown policy \"superuser\""),
            (#"[1]"#, "policy must be a JSON object"),
            (#"{"methods":["sign_event"],"kinds":[1]}"#, "policy needs a name"),
            (#"{"name":"x","methods":["sign_everything"]}"#, "unknown method \"sign_everything\" in methods"),
            (#"{"name":"x","methods":[]}"#, "methods must not be empty"),
            (#"{"name":"x","methods":"sign_event"}"#, "methods must be an array of method names"),
            (#"{"name":"x","methods":["sign_event"]}"#, "kinds must list at least one kind when sign_event is allowed"),
            (#"{"name":"x","methods":["sign_event"],"kinds":[70000]}"#, "kind 70000 is outside 0...65535"),
            (#"{"name":"x","methods":["sign_event"],"kinds":["9-3"]}"#, "kind range \"9-3\" must be \"a-b\" with 0 <= a <= b <= 65535"),
            (#"{"name":"x","methods":["sign_event"],"kinds":[1.5]}"#, "kinds must be \"all\" or an array of kinds and \"a-b\" ranges"),
            (#"{"name":"x","methods":["get_public_key"],"rate_limit":{"per_hour":1}}"#, "unknown key \"per_hour\" in rate_limit"),
            (#"{"name":"x","methods":["get_public_key"],"rate_limit":{"per_minute":0}}"#, "rate_limit.per_minute must be a positive integer"),
            (#"{"name":"x","methods":["get_public_key"],"max_uses":-1}"#, "max_uses must be a positive integer"),
            (#"{"name":"x","methods":["get_public_key"],"allow_all":true}"#, "unknown key \"allow_all\" in policy"),
            ("{", "policy is not valid JSON: unexpected end of input at byte 1"),
        ]
        for (text, message) in cases {
            #expect(Self.parseError(text) == message, "\(text)")
        }
    }
}

/// A clock in seconds that the test moves by hand.
final class ManualSeconds: Sendable {
    private let value = Mutex<Double>(1_000)
    var now: Double { self.value.withLock { $0 } }
    func advance(by seconds: Double) { self.value.withLock { $0 += seconds } }
}

struct RateLimiterTests {
    @Test func perMinuteWithSlidingEstimate() {
        let clock = ManualSeconds()
        let limiter = RateLimiter(now: { clock.now })
        let limits = RateLimiter.Limits(perMinute: 3)
        for _ in 0..<3 { #expect(limiter.acquire(key: "a", limits: limits) == .allowed) }
        // Full: the window must end and a third of it slide out (3 × (1 − 20/60) = 2, room for one).
        #expect(limiter.acquire(key: "a", limits: limits) == .limited(retryAfter: .seconds(80)))
        // Another authorization is unaffected.
        #expect(limiter.acquire(key: "b", limits: limits) == .allowed)
        clock.advance(by: 60)
        #expect(limiter.acquire(key: "a", limits: limits) == .limited(retryAfter: .seconds(20)))
        clock.advance(by: 20)
        #expect(limiter.acquire(key: "a", limits: limits) == .allowed)
        #expect(limiter.acquire(key: "a", limits: limits) != .allowed)
        clock.advance(by: 120)
        #expect(limiter.acquire(key: "a", limits: limits) == .allowed)
    }

    @Test func perDayAndResetAndBound() {
        let clock = ManualSeconds()
        let limiter = RateLimiter(maximumTrackedKeys: 2, now: { clock.now })
        let limits = RateLimiter.Limits(perMinute: 100, perDay: 2)
        #expect(limiter.acquire(key: "a", limits: limits) == .allowed)
        #expect(limiter.acquire(key: "a", limits: limits) == .allowed)
        guard case .limited(let wait) = limiter.acquire(key: "a", limits: limits) else {
            Issue.record("third request of the day allowed")
            return
        }
        #expect(wait > .seconds(86_400))
        limiter.reset(key: "a")
        #expect(limiter.acquire(key: "a", limits: limits) == .allowed)
        // Unlimited policies are not tracked; the tracked set stays bounded.
        #expect(limiter.acquire(key: "free", limits: .init()) == .allowed)
        clock.advance(by: 1)
        _ = limiter.acquire(key: "b", limits: limits)
        clock.advance(by: 1)
        _ = limiter.acquire(key: "c", limits: limits)
        #expect(limiter.trackedKeys == 2)
    }
}
