import Nip46
import NostrCrypto
import Testing

struct RelayMessageTests {
    static let key = try! SecretKey(hex: "0000000000000000000000000000000000000000000000000000000000000003")
    static let event = try! UnsignedEvent(createdAt: 1_700_000_000, kind: 24133, tags: [["p", key.publicKey.hex]], content: "x")
        .signed(with: key, auxiliaryRandomness: [UInt8](repeating: 0, count: 32))

    @Test("client messages encode exactly as NIP-01 spells them")
    func clientMessages() {
        let filter = Filter(kinds: [24133], pTags: ["ab", "c\"d"], since: 1_700_000_000, limit: 0)
        #expect(ClientMessage.request(subscriptionID: "s1", filters: [filter]).encoded() == ##"["REQ","s1",{"kinds":[24133],"#p":["ab","c\"d"],"since":1700000000,"limit":0}]"##)
        #expect(ClientMessage.request(subscriptionID: "s", filters: [Filter(kinds: [1, 2])]).encoded() == #"["REQ","s",{"kinds":[1,2]}]"#)
        #expect(ClientMessage.close(subscriptionID: "s1").encoded() == #"["CLOSE","s1"]"#)
        #expect(ClientMessage.event(Self.event).encoded() == "[\"EVENT\",\(Self.event.jsonString())]")
        #expect(ClientMessage.auth(Self.event).encoded() == "[\"AUTH\",\(Self.event.jsonString())]")
    }

    @Test("relay messages parse, events included")
    func relayMessages() throws {
        guard case .event("sub", let event) = try RelayMessage(text: "[\"EVENT\",\"sub\",\(Self.event.jsonString())]") else {
            Issue.record("not an EVENT")
            return
        }
        #expect(event == Self.event)
        guard case .ok(let id, false, "rate-limited: slow down") = try RelayMessage(text: "[\"OK\",\"\(Self.event.id.hex)\",false,\"rate-limited: slow down\"]") else {
            Issue.record("not an OK")
            return
        }
        #expect(id == Self.event.id)
        guard case .endOfStoredEvents("s") = try RelayMessage(text: #"["EOSE","s"]"#) else { Issue.record("not EOSE"); return }
        guard case .closed("s", "auth-required: who are you") = try RelayMessage(text: #"["CLOSED","s","auth-required: who are you"]"#) else {
            Issue.record("not CLOSED")
            return
        }
        guard case .notice("hello") = try RelayMessage(text: #"["NOTICE","hello"]"#) else { Issue.record("not NOTICE"); return }
        guard case .auth(challenge: "c-123") = try RelayMessage(text: #"["AUTH","c-123"]"#) else { Issue.record("not AUTH"); return }
    }

    @Test("malformed relay messages are refused with a reason", arguments: [
        ("{}", "not an array starting with a message type"),
        ("[\"WHAT\",1]", "unknown message type WHAT"),
        ("[\"OK\",\"zz\",true,\"\"]", "OK needs an event id"),
        ("[\"EOSE\",5]", "EOSE element 1 must be a string"),
        ("[\"EVENT\",\"s\"]", "EVENT needs a subscription id and an event"),
        ("nope", "not JSON: invalid literal at byte 0"),
    ])
    func malformed(text: String, reason: String) {
        #expect(throws: RelayMessageError.self) { try RelayMessage(text: text) }
        do { _ = try RelayMessage(text: text) } catch { #expect(error.description == reason) }
    }

    @Test("OK and CLOSED prefixes map to rejections; only passing ones are retried")
    func rejections() {
        #expect(RelayRejection(message: "rate-limited: slow down") == .rateLimited)
        #expect(RelayRejection(message: "auth-required: log in") == .authRequired)
        #expect(RelayRejection(message: "mute: no one is listening") == .mute)
        #expect(RelayRejection(message: "blocked: you") == .blocked)
        #expect(RelayRejection(message: "whatever") == .other)
        #expect(RelayRejection(message: "madeup: x") == .other)
        #expect(RelayRejection.rateLimited.isRetryable && RelayRejection.authRequired.isRetryable)
        #expect(!RelayRejection.mute.isRetryable && !RelayRejection.invalid.isRetryable && !RelayRejection.duplicate.isRetryable)
    }

    @Test("log text is bounded on a character boundary and has no control characters")
    func logText() {
        #expect(LogText.truncated("héllo👍🏽wörld", maximumCharacters: 6) == "héllo👍🏽…")
        #expect(LogText.truncated("a\nb\u{7}c") == "a?b?c")
    }
}
