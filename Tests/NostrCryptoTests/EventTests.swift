import Crypto
import Foundation
import NostrCrypto
import Testing

struct EventTests {
    static let key = try! SecretKey(hex: String(repeating: "0", count: 63) + "3")
    static let pubkey = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"

    static func serialization(_ content: String, tags: [[String]] = []) -> String {
        let event = UnsignedEvent(createdAt: 1_700_000_000, kind: 1, tags: tags, content: content)
        return String(decoding: event.canonicalSerialization(pubkey: Self.key.publicKey), as: UTF8.self)
    }

    static func expected(_ escapedContent: String, tags: String = "[]") -> String {
        "[0,\"\(Self.pubkey)\",1700000000,1,\(tags),\"\(escapedContent)\"]"
    }

    @Test func theSevenShortEscapes() {
        #expect(Self.serialization("\n") == Self.expected("\\n"))
        #expect(Self.serialization("\"") == Self.expected("\\\""))
        #expect(Self.serialization("\\") == Self.expected("\\\\"))
        #expect(Self.serialization("\r") == Self.expected("\\r"))
        #expect(Self.serialization("\t") == Self.expected("\\t"))
        #expect(Self.serialization("\u{08}") == Self.expected("\\b"))
        #expect(Self.serialization("\u{0C}") == Self.expected("\\f"))
    }

    @Test func otherControlCharactersAsLowercaseUnicodeEscapes() {
        #expect(Self.serialization("\u{00}") == Self.expected("\\u0000"))
        #expect(Self.serialization("\u{01}\u{1B}\u{1F}") == Self.expected("\\u0001\\u001b\\u001f"))
        #expect(Self.serialization("\u{0B}") == Self.expected("\\u000b"))
        // DEL is not a JSON control character: verbatim.
        #expect(Self.serialization("\u{7F}") == Self.expected("\u{7F}"))
    }

    @Test func everythingElseVerbatim() {
        #expect(Self.serialization("a/b</script>") == Self.expected("a/b</script>"))
        #expect(Self.serialization("héllo ☕ 🦄 👩‍👩‍👧") == Self.expected("héllo ☕ 🦄 👩‍👩‍👧"))
        #expect(Self.serialization("line\u{2028}para\u{2029}") == Self.expected("line\u{2028}para\u{2029}"))
        #expect(Self.serialization("\u{FEFF}bom") == Self.expected("\u{FEFF}bom"))
    }

    @Test func tagsUseTheSameRules() {
        let tags = [["e", "a\"b", "c\\d"], ["t", "x\ny"], ["emoji", "🦄", "\u{01}"]]
        #expect(
            Self.serialization("", tags: tags)
                == Self.expected("", tags: "[[\"e\",\"a\\\"b\",\"c\\\\d\"],[\"t\",\"x\\ny\"],[\"emoji\",\"🦄\",\"\\u0001\"]]")
        )
    }

    @Test func idIsSHA256OfTheSerialization() throws {
        // Checked independently: Python's json.dumps(separators=(",", ":"), ensure_ascii=False) gives the same bytes.
        let event = try UnsignedEvent(
            json: Array(#"{"kind":1,"created_at":1700000000,"tags":[["t","a/b"]],"content":"héllo \"x\" \n\u0001 🦄"}"#.utf8)
        )
        #expect(event.id(pubkey: Self.key.publicKey).hex == "02eb8230b1d56d1e6ac143e3ca3d7cec7f63a343754c188634c0bbaa4ee37522")
        let long = String(repeating: "0123456789abcdef", count: 8192)
        let serialized = Self.serialization(long)
        #expect(serialized == Self.expected(long))
        let longEvent = UnsignedEvent(createdAt: 1_700_000_000, kind: 1, content: long)
        #expect(longEvent.id(pubkey: Self.key.publicKey).bytes == Array(SHA256.hash(data: Array(serialized.utf8))))
    }

    @Test func signVerifyAndJSONRoundTrip() throws {
        let unsigned = UnsignedEvent(createdAt: 1_700_000_000, kind: 7, tags: [["e", "x"]], content: "+\u{2028}\u{00}")
        let event = try unsigned.signed(with: Self.key)
        try event.verify()
        #expect(event.pubkey == Self.key.publicKey)
        #expect(event.id == unsigned.id(pubkey: Self.key.publicKey))
        let reparsed = try Event(json: event.jsonBytes())
        #expect(reparsed == event)
        try reparsed.verify()
        #expect(reparsed.unsigned.content == "+\u{2028}\u{00}")
    }

    @Test func deterministicSignatureWithGivenAux() throws {
        let unsigned = UnsignedEvent(createdAt: 0, kind: 0, content: "")
        let event = try unsigned.signed(with: Self.key, auxiliaryRandomness: [UInt8](repeating: 0, count: 32))
        let again = try unsigned.signed(with: Self.key, auxiliaryRandomness: [UInt8](repeating: 0, count: 32))
        #expect(event.signature == again.signature)
        #expect(event.isValid)
    }

    @Test func tamperingIsDetected() throws {
        let event = try UnsignedEvent(createdAt: 1_700_000_000, kind: 1, content: "original").signed(with: Self.key)
        let json = event.jsonString()
        let changedContent = try Event(json: Array(json.replacingOccurrences(of: "original", with: "0riginal").utf8))
        #expect(throws: EventError.self) { try changedContent.verify() }
        #expect(Self.errorText { try changedContent.verify() } == "id does not match the event's canonical serialization")

        let signatureHex = Hex.encode(event.signature)
        var flipped = Array(signatureHex)
        flipped[0] = flipped[0] == "0" ? "1" : "0"
        let changedSignature = try Event(json: Array(json.replacingOccurrences(of: signatureHex, with: String(flipped)).utf8))
        #expect(Self.errorText { try changedSignature.verify() } == "signature does not verify")
        #expect(!changedSignature.isValid)
    }

    @Test func pubkeyMismatchIsRefused() throws {
        let other = try SecretKey(hex: String(repeating: "0", count: 63) + "4")
        let unsigned = UnsignedEvent(pubkey: other.publicKey, createdAt: 1, kind: 1, content: "x")
        #expect(Self.errorText { _ = try unsigned.signed(with: Self.key) } == "pubkey does not match the signing key")
        var matching = unsigned
        matching.pubkey = Self.key.publicKey
        #expect(try matching.signed(with: Self.key).isValid)
    }

    static func errorText(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func unsignedError(_ json: String, limits: EventLimits = .default) -> String? {
        self.errorText { _ = try UnsignedEvent(json: Array(json.utf8), limits: limits) }
    }

    @Test func strictUnsignedParsing() {
        let valid = #"{"kind":1,"created_at":1,"tags":[],"content":""}"#
        #expect(Self.unsignedError(valid) == nil)
        #expect(Self.unsignedError(#"{"kind":1,"created_at":1,"tags":[],"content":"","id":"x","sig":5,"extra":null}"#) == nil)
        let cases: [(String, String)] = [
            (#"{"created_at":1,"tags":[],"content":""}"#, "missing field: kind"),
            (#"{"kind":1.0,"created_at":1,"tags":[],"content":""}"#, "kind must be an integer in 0...65535"),
            (#"{"kind":1e0,"created_at":1,"tags":[],"content":""}"#, "kind must be an integer in 0...65535"),
            (#"{"kind":"1","created_at":1,"tags":[],"content":""}"#, "kind must be an integer in 0...65535"),
            (#"{"kind":65536,"created_at":1,"tags":[],"content":""}"#, "kind must be an integer in 0...65535"),
            (#"{"kind":-1,"created_at":1,"tags":[],"content":""}"#, "kind must be an integer in 0...65535"),
            (#"{"kind":1,"tags":[],"content":""}"#, "missing field: created_at"),
            (#"{"kind":1,"created_at":1.5,"tags":[],"content":""}"#, "created_at must be an integer in 0...9007199254740991"),
            (#"{"kind":1,"created_at":-1,"tags":[],"content":""}"#, "created_at must be an integer in 0...9007199254740991"),
            (#"{"kind":1,"created_at":99999999999999999999,"tags":[],"content":""}"#, "created_at must be an integer in 0...9007199254740991"),
            (#"{"kind":1,"created_at":1,"content":""}"#, "missing field: tags"),
            (#"{"kind":1,"created_at":1,"tags":{},"content":""}"#, "tags must be an array of arrays of strings"),
            (#"{"kind":1,"created_at":1,"tags":["e"],"content":""}"#, "tags[0] must be an array of strings"),
            (#"{"kind":1,"created_at":1,"tags":[["e"],[]],"content":""}"#, "tags[1] must not be empty"),
            (#"{"kind":1,"created_at":1,"tags":[["e",1]],"content":""}"#, "tags[0][1] must be a string"),
            (#"{"kind":1,"created_at":1,"tags":[["e",null]],"content":""}"#, "tags[0][1] must be a string"),
            (#"{"kind":1,"created_at":1,"tags":[]}"#, "missing field: content"),
            (#"{"kind":1,"created_at":1,"tags":[],"content":5}"#, "content must be a string"),
            (#"{"kind":1,"created_at":1,"tags":[],"content":"","pubkey":"F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9"}"#,
             "pubkey must be 64 lowercase hex digits of a valid public key"),
            (#"[1,2]"#, "event must be a JSON object"),
            (#"{"kind":1,"kind":2,"created_at":1,"tags":[],"content":""}"#, "invalid JSON: duplicate object key at byte 10"),
            (valid + " x", "invalid JSON: unexpected data after the JSON value at byte 49"),
            (#"{"kind":1,"created_at":1,"tags":[],"content":"\ud800"}"#, "invalid JSON: lone surrogate in \\u escape at byte 46"),
        ]
        for (json, message) in cases {
            #expect(Self.unsignedError(json) == message, "\(json)")
        }
        let limits = EventLimits(maximumJSONBytes: 60, maximumTags: 1, maximumValuesPerTag: 2)
        #expect(Self.unsignedError(#"{"kind":1,"created_at":1,"tags":[["a"],["b"]],"content":""}"#, limits: limits) == "tags has more than 1 entries")
        #expect(Self.unsignedError(#"{"kind":1,"created_at":1,"tags":[["a","b","c"]]}"#, limits: limits) == "tags[0] has more than 2 values")
        #expect(Self.unsignedError(#"{"kind":1,"created_at":1,"tags":[],"content":"\#(String(repeating: "x", count: 20))"}"#, limits: limits) == "event JSON exceeds 60 bytes")
    }

    @Test func invalidUTF8IsRejected() {
        var bytes = Array(#"{"kind":1,"created_at":1,"tags":[],"content":"xx"}"#.utf8)
        bytes[47] = 0xC3  // a lead byte with no continuation, in the string that starts at byte 46
        #expect(Self.errorText { _ = try UnsignedEvent(json: bytes) } == "invalid JSON: invalid UTF-8 in string at byte 46")
    }

    @Test func strictSignedParsing() throws {
        let event = try UnsignedEvent(createdAt: 1, kind: 1, content: "x").signed(with: Self.key)
        var object = try JSONValue.parse(event.jsonBytes()).objectValue!
        object["id"] = .string(event.id.hex.uppercased())
        #expect(Self.errorText { _ = try Event(object: object) } == "id must be 64 lowercase hex digits")
        object["id"] = nil
        #expect(Self.errorText { _ = try Event(object: object) } == "missing field: id")
        object["id"] = .string(event.id.hex)
        object["sig"] = .string("00")
        #expect(Self.errorText { _ = try Event(object: object) } == "sig must be 128 lowercase hex digits")
        object["sig"] = nil
        #expect(Self.errorText { _ = try Event(object: object) } == "missing field: sig")
        object["sig"] = .string(Hex.encode(event.signature))
        object["pubkey"] = nil
        #expect(Self.errorText { _ = try Event(object: object) } == "missing field: pubkey")
        // x = 5 is not on the curve.
        object["pubkey"] = .string(String(repeating: "0", count: 63) + "5")
        #expect(Self.errorText { _ = try Event(object: object) } == "pubkey must be 64 lowercase hex digits of a valid public key")
    }
}
