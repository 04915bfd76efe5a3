import Nip46
import NostrCrypto
import Synchronization
import Testing

struct Nip46RequestHandlerTests {
    let keys = InMemoryBunkerKeys()
    let client = SecretKey.generate()
    let now: Int64 = 1_700_000_000
    var handler: Nip46RequestHandler {
        let now = self.now
        return Nip46RequestHandler(keys: self.keys, clock: { now })
    }

    func call(_ method: String, _ params: [String] = [], from client: SecretKey? = nil, relay: String = "ws://relay") async -> Nip46Response {
        await self.handler.handle(
            Nip46Request(id: "r1", method: method, params: params), client: (client ?? self.client).publicKey, session: self.keys.session, relay: relay
        )
    }

    func connected() async {
        let response = await self.call("connect", [self.keys.session.bunkerKey.publicKey.hex, "s3cret"])
        #expect(response == .result("ack", id: "r1"))
    }

    @Test("connect pins the first client with the secret; a second client with the same secret is refused")
    func connectPinsOnce() async {
        await self.connected()
        #expect(await self.call("connect", ["", "s3cret"]) == .result("ack", id: "r1"))
        // The pinned client may reconnect without the secret.
        #expect(await self.call("connect", [self.keys.session.bunkerKey.publicKey.hex]) == .result("ack", id: "r1"))
        let other = SecretKey.generate()
        #expect(
            await self.call("connect", [self.keys.session.bunkerKey.publicKey.hex, "s3cret"], from: other)
                == .failure(Nip46Error(.unauthorized, "the secret is wrong or was already used by another client"), id: "r1")
        )
        #expect(self.keys.audited.withLock { $0.map(\.outcome) } == ["ok", "ok", "ok", "unauthorized"])
    }

    @Test("connect without a secret, or with a wrong one, is refused")
    func connectRefusals() async {
        let bunker = self.keys.session.bunkerKey.publicKey.hex
        #expect(await self.call("connect", [bunker]) == .failure(Nip46Error(.unauthorized, "connect needs the authorization's secret"), id: "r1"))
        #expect(
            await self.call("connect", [bunker, "guess", "sign_event:1", #"{"name":"x"}"#])
                == .failure(Nip46Error(.unauthorized, "the secret is wrong or was already used by another client"), id: "r1")
        )
    }

    @Test("every method but connect is refused to a client that is not pinned, get_public_key included")
    func unpinnedClientIsRefused() async {
        let refusal = Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first")
        for method in ["get_public_key", "sign_event", "ping", "nip44_encrypt", "nip04_decrypt", "switch_relays", "logout"] {
            #expect(await self.call(method, []) == .failure(refusal, id: "r1"))
        }
        #expect(self.keys.authorized.withLock { $0 }.isEmpty)
    }

    @Test("get_public_key, ping, switch_relays and logout")
    func simpleMethods() async {
        await self.connected()
        #expect(await self.call("get_public_key") == .result(self.keys.session.userKey.publicKey.hex, id: "r1"))
        #expect(await self.call("ping") == .result("pong", id: "r1"))
        #expect(await self.call("switch_relays") == .result(nil, id: "r1"))
        #expect(await self.call("logout") == .result("ack", id: "r1"))
        #expect(await self.call("ping") == .failure(Nip46Error(.unauthorized, "this client has not connected; send connect with the authorization's secret first"), id: "r1"))
        #expect(self.keys.authorized.withLock { $0 } == ["get_public_key"])
    }

    @Test("switch_relays answers the authorization's own relays only to a client on other relays")
    func switchRelays() async {
        let keys = InMemoryBunkerKeys(session: TestSession(relays: ["wss://a.example", "wss://b.example"]))
        let handler = Nip46RequestHandler(keys: keys, clock: { 0 })
        let client = self.client.publicKey
        _ = await handler.handle(Nip46Request(id: "c", method: "connect", params: ["", "s3cret"]), client: client, session: keys.session, relay: "wss://a.example")
        let elsewhere = await handler.handle(Nip46Request(id: "1", method: "switch_relays", params: []), client: client, session: keys.session, relay: "wss://old.example")
        #expect(elsewhere == .result(#"["wss://a.example","wss://b.example"]"#, id: "1"))
        let there = await handler.handle(Nip46Request(id: "2", method: "switch_relays", params: []), client: client, session: keys.session, relay: "wss://b.example")
        #expect(there == .result(nil, id: "2"))
    }

    @Test("sign_event fills pubkey, id and sig, and audits the kind and event id")
    func signEvent() async throws {
        await self.connected()
        let response = await self.call("sign_event", [#"{"kind":1,"content":"hello","tags":[["t","x"]],"created_at":1700000000}"#])
        let event = try Event(json: Array(try #require(response.result).utf8))
        try event.verify()
        #expect(event.pubkey == self.keys.session.userKey.publicKey)
        #expect(event.kind == 1 && event.content == "hello" && event.tags == [["t", "x"]] && event.createdAt == 1_700_000_000)
        #expect(self.keys.authorized.withLock { $0 } == ["sign_event:1"])
        let entry = try #require(self.keys.audited.withLock { $0.last })
        #expect(entry.method == "sign_event" && entry.kind == 1 && entry.eventID == event.id.hex && entry.outcome == "ok")
        #expect(entry.client == self.client.publicKey)
    }

    @Test("sign_event refuses bad events before asking the policy", arguments: [
        ([], "sign_event needs the event as its first param"),
        (["{"], "the event is not valid: invalid JSON: unexpected end of input at byte 1"),
        ([#"{"kind":70000,"content":"","tags":[],"created_at":1}"#], "the event is not valid: kind must be an integer in 0...65535"),
        ([#"{"kind":1,"content":"","tags":[[1]],"created_at":1}"#], "the event is not valid: tags[0][0] must be a string"),
        ([#"{"kind":1,"content":"","tags":[],"created_at":1700086401}"#], "created_at is more than 86400 s in the future"),
        ([#"{"kind":1,"content":"","tags":[],"created_at":-1}"#], "the event is not valid: created_at must be an integer in 0...9007199254740991"),
        (
            [#"{"kind":1,"content":"","tags":[],"created_at":1,"pubkey":"f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"}"#],
            "the event's pubkey is not this signer's user key"
        ),
    ])
    func badEvents(params: [String], message: String) async {
        await self.connected()
        #expect(await self.call("sign_event", params) == .failure(Nip46Error(.invalid, message), id: "r1"))
        #expect(self.keys.authorized.withLock { $0 }.isEmpty)
    }

    @Test("policy refusals and rate limits become forbidden: and rate-limited:")
    func policy() async {
        await self.connected()
        self.keys.verdict.withLock { $0 = .forbidden("kind 4 is not allowed by policy \"social\"") }
        #expect(await self.call("sign_event", [#"{"kind":4,"content":"","tags":[],"created_at":1}"#]) == .failure(Nip46Error(.forbidden, "kind 4 is not allowed by policy \"social\""), id: "r1"))
        self.keys.verdict.withLock { $0 = .rateLimited(retryAfter: .milliseconds(12_300)) }
        #expect(await self.call("get_public_key") == .failure(Nip46Error(.rateLimited, "too many requests; retry after 13 s"), id: "r1"))
        self.keys.verdict.withLock { $0 = .unusable }
        #expect(await self.call("nip44_encrypt", [self.client.publicKey.hex, "x"]) == .failure(Nip46Error(.unauthorized, "this authorization is revoked, expired or used up"), id: "r1"))
        #expect(self.keys.audited.withLock { $0.suffix(3).map(\.outcome) } == ["forbidden", "rate-limited", "unauthorized"])
    }

    @Test("NIP-44 and NIP-04 with a third party round-trip through the user key")
    func ciphers() async throws {
        await self.connected()
        let peer = SecretKey.generate()
        let nip44 = try #require(await self.call("nip44_encrypt", [peer.publicKey.hex, "secret note"]).result)
        #expect(try NIP44.decrypt(nip44, conversationKey: NIP44ConversationKey(secretKey: peer, publicKey: self.keys.session.userKey.publicKey)) == "secret note")
        #expect(await self.call("nip44_decrypt", [peer.publicKey.hex, nip44]) == .result("secret note", id: "r1"))
        let nip04 = try #require(await self.call("nip04_encrypt", [peer.publicKey.hex, "old style"]).result)
        #expect(try NIP04.decrypt(nip04, secretKey: peer, publicKey: self.keys.session.userKey.publicKey) == "old style")
        #expect(await self.call("nip04_decrypt", [peer.publicKey.hex, nip04]) == .result("old style", id: "r1"))
        #expect(await self.call("nip44_decrypt", [peer.publicKey.hex, "AgAAAA"]) == .failure(Nip46Error(.invalid, "nip44_decrypt failed: \(NostrCryptoError.invalidPayloadLength)"), id: "r1"))
        #expect(await self.call("nip44_encrypt", ["zz", "x"]) == .failure(Nip46Error(.invalid, "the first param must be a public key in hex"), id: "r1"))
        #expect(await self.call("nip04_encrypt", [peer.publicKey.hex]) == .failure(Nip46Error(.invalid, "nip04_encrypt needs a public key and a text"), id: "r1"))
    }

    @Test("unknown methods get unsupported:, store failures a generic error: without details")
    func unknownAndFailures() async {
        #expect(await self.call("create_account") == .failure(Nip46Error(.unsupported, "create_account"), id: "r1"))
        await self.connected()
        self.keys.failure.withLock { $0 = true }
        let response = await self.call("get_public_key")
        #expect(response == .failure(Nip46Error(.error, "the signer could not complete the request; try again"), id: "r1"))
        #expect(!(response.error ?? "").contains("10.0.0.7"))
    }
}
