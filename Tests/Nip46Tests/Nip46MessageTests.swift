import Nip46
import NostrCrypto
import Testing

struct Nip46MessageTests {
    @Test("requests parse, leniently where clients differ")
    func requests() throws {
        #expect(try Nip46Request(json: #"{"id":"1","method":"ping","params":[]}"#) == Nip46Request(id: "1", method: "ping", params: []))
        #expect(try Nip46Request(json: #"{"id":7,"method":"sign_event","params":["a",5,null]}"#) == Nip46Request(id: "7", method: "sign_event", params: ["a", "5", ""]))
        #expect(try Nip46Request(json: #"{"id":"x","method":"get_public_key"}"#).params == [])
        let request = Nip46Request(id: "a\"b", method: "nip44_encrypt", params: ["k", "t\n"])
        #expect(request.encoded() == #"{"id":"a\"b","method":"nip44_encrypt","params":["k","t\n"]}"#)
        #expect(try Nip46Request(json: request.encoded()) == request)
    }

    @Test("bad requests say why, with the id when it could be read", arguments: [
        (#"[1]"#, nil, "request is not a JSON object"),
        (#"{"method":"ping"}"#, nil, "request has no string \"id\""),
        (#"{"id":"9","params":[]}"#, "9", "request has no string \"method\""),
        (#"{"id":"9","method":"sign_event","params":{"kind":1}}"#, "9", "\"params\" must be an array of strings"),
        (#"{"id":"9","method":"sign_event","params":[{"kind":1}]}"#, "9", "param 0 must be a string"),
    ] as [(String, String?, String)])
    func badRequests(json: String, id: String?, reason: String) {
        do {
            _ = try Nip46Request(json: json)
            Issue.record("accepted")
        } catch {
            #expect(error.id == id)
            #expect(error.reason == reason)
        }
    }

    @Test("responses encode result, null result and error")
    func responses() throws {
        #expect(Nip46Response.result("pong", id: "1").encoded() == #"{"id":"1","result":"pong"}"#)
        #expect(Nip46Response.result(nil, id: "2").encoded() == #"{"id":"2","result":null}"#)
        #expect(Nip46Response.failure(Nip46Error(.forbidden, "kind 4 is not allowed"), id: "3").encoded() == #"{"id":"3","result":null,"error":"forbidden: kind 4 is not allowed"}"#)
        let parsed = try Nip46Response(json: #"{"id":"3","result":null,"error":"busy: later"}"#)
        #expect(parsed == Nip46Response(id: "3", result: nil, error: "busy: later"))
    }

    @Test("bunker URIs escape relay URLs")
    func bunkerURI() throws {
        let key = try SecretKey(hex: "0000000000000000000000000000000000000000000000000000000000000003").publicKey
        let uri = BunkerURI(bunkerPublicKey: key, relays: ["wss://relay.example/a?b", "ws://127.0.0.1:7000"], secret: "s3cret")
        #expect(uri.description == "bunker://\(key.hex)?relay=wss%3A%2F%2Frelay.example%2Fa%3Fb&relay=ws%3A%2F%2F127.0.0.1%3A7000&secret=s3cret")
    }

    @Test("nostrconnect URIs: the current parameters and the legacy metadata form")
    func nostrConnectURI() throws {
        let client = try SecretKey(hex: "0000000000000000000000000000000000000000000000000000000000000005").publicKey
        let current = try NostrConnectURI(
            "nostrconnect://\(client.hex)?relay=wss%3A%2F%2Fr1.example&relay=ws://127.0.0.1:7000&relay=wss%3A%2F%2Fr1.example&secret=abc&perms=sign_event%3A1%2Cnip44_encrypt&name=My%20App&url=https%3A%2F%2Fapp.example&image=https%3A%2F%2Fapp.example%2Fi.png"
        )
        #expect(current.clientPublicKey == client)
        #expect(current.relays == ["wss://r1.example", "ws://127.0.0.1:7000"])
        #expect(current.secret == "abc")
        #expect(current.requestedPermissions == ["sign_event:1", "nip44_encrypt"])
        #expect(current.name == "My App" && current.url == "https://app.example" && current.image == "https://app.example/i.png")
        let legacy = try NostrConnectURI(
            "nostrconnect://\(client.hex)?metadata=%7B%22name%22%3A%22Old%22%2C%22url%22%3A%22https%3A%2F%2Fold.example%22%2C%22perms%22%3A%22sign_event%3A7%22%7D&relay=wss%3A%2F%2Fr.example&secret=xyz"
        )
        #expect(legacy.name == "Old" && legacy.url == "https://old.example" && legacy.requestedPermissions == ["sign_event:7"])
        #expect(legacy.relays == ["wss://r.example"] && legacy.secret == "xyz")
    }

    @Test("bad nostrconnect URIs are refused with one clear reason", arguments: [
        ("bunker://abc", "not a nostrconnect:// URI"),
        ("nostrconnect://npub1xyz?relay=wss%3A%2F%2Fr&secret=s", "the URI's host must be the client's public key in hex"),
        ("nostrconnect://1234?relay=wss%3A%2F%2Fr&secret=s", "the URI's host must be the client's public key in hex"),
    ])
    func badNostrConnectURIs(text: String, reason: String) {
        do {
            _ = try NostrConnectURI(text)
            Issue.record("accepted")
        } catch {
            #expect(error.description == reason)
        }
    }

    @Test("a nostrconnect URI needs a relay, ws URLs and a secret")
    func missingParts() throws {
        let client = try SecretKey(hex: "0000000000000000000000000000000000000000000000000000000000000005").publicKey.hex
        for (query, reason) in [
            ("secret=s", "the URI names no relay"),
            ("relay=https%3A%2F%2Fr.example&secret=s", "relay https://r.example is not a ws:// or wss:// URL"),
            ("relay=wss%3A%2F%2Fr.example", "the URI has no secret"),
            ("relay=wss%3A%2F%2Fr.example&secret=s&metadata=nope", "the metadata parameter is not a JSON object"),
        ] {
            do {
                _ = try NostrConnectURI("nostrconnect://\(client)?\(query)")
                Issue.record("accepted \(query)")
            } catch {
                #expect(error.description == reason)
            }
        }
    }
}
