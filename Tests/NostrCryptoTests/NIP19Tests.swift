import NostrCrypto
import Testing

/// The examples of NIP-19, plus the decoder's rejections.
struct NIP19Tests {
    static let npub = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"
    static let npubHex = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"
    static let nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
    static let nsecHex = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
    static let nprofile =
        "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p"
    static let nprofileHex = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"

    @Test func npubVector() throws {
        #expect(try PublicKey(npub: Self.npub).hex == Self.npubHex)
        #expect(try PublicKey(hex: Self.npubHex).npub == Self.npub)
        guard case .publicKey(let key) = try NIP19.decode(Self.npub) else { Issue.record("not an npub"); return }
        #expect(key.hex == Self.npubHex)
    }

    @Test func nsecVector() throws {
        #expect(try SecretKey(nsec: Self.nsec).exportHex() == Self.nsecHex)
        #expect(try SecretKey(hex: Self.nsecHex).exportNsec() == Self.nsec)
        guard case .secretKey(let key) = try NIP19.decode(Self.nsec) else { Issue.record("not an nsec"); return }
        #expect(key.exportHex() == Self.nsecHex)
    }

    @Test func nprofileVector() throws {
        guard case .profile(let profile) = try NIP19.decode(Self.nprofile) else { Issue.record("not an nprofile"); return }
        #expect(profile.publicKey.hex == Self.nprofileHex)
        #expect(profile.relays == ["wss://r.x.com", "wss://djbas.sadkb.com"])
        // Longer than BIP-173's 90 characters, and our encoder reproduces it exactly.
        #expect(Self.nprofile.count > 90)
        #expect(NIP19.encode(profile) == Self.nprofile)
    }

    @Test func nprofileIgnoresUnknownTLVTypes() throws {
        let key = try PublicKey(hex: Self.nprofileHex)
        // type 0 (pubkey), type 7 (unknown, 3 bytes), type 1 (relay "ws://a")
        let tlv: [UInt8] = [0, 32] + key.bytes + [7, 3, 1, 2, 3] + [1, 6] + Array("ws://a".utf8)
        guard case .profile(let profile) = try NIP19.decode(Bech32.encode(prefix: "nprofile", payload: tlv)) else {
            Issue.record("not an nprofile")
            return
        }
        #expect(profile == NIP19.Profile(publicKey: key, relays: ["ws://a"]))
        // Missing pubkey, truncated TLV.
        #expect(throws: NostrCryptoError.invalidNIP19Payload) {
            try NIP19.decode(Bech32.encode(prefix: "nprofile", payload: [1, 6] + Array("ws://a".utf8)))
        }
        #expect(throws: NostrCryptoError.invalidNIP19Payload) {
            try NIP19.decode(Bech32.encode(prefix: "nprofile", payload: [0, 32] + key.bytes.prefix(10)))
        }
    }

    @Test func noteRoundTrip() throws {
        let id = EventID(hex: Self.npubHex)!
        let encoded = NIP19.encode(id)
        #expect(encoded.hasPrefix("note1"))
        guard case .note(let decoded) = try NIP19.decode(encoded) else { Issue.record("not a note"); return }
        #expect(decoded == id)
    }

    @Test func rejections() throws {
        // One character changed: checksum fails.
        var corrupted = Array(Self.npub)
        corrupted[10] = corrupted[10] == "q" ? "p" : "q"
        #expect(throws: NostrCryptoError.invalidBech32) { try NIP19.decode(String(corrupted)) }
        // Mixed case.
        #expect(throws: NostrCryptoError.invalidBech32) { try NIP19.decode("N" + Self.npub.dropFirst()) }
        // Upper case alone is valid bech32.
        #expect(try PublicKey(npub: Self.npub.uppercased()).hex == Self.npubHex)
        // Wrong entity for the type asked for.
        #expect(throws: NostrCryptoError.unexpectedBech32Prefix) { try PublicKey(npub: Self.nsec) }
        #expect(throws: NostrCryptoError.unexpectedBech32Prefix) { try SecretKey(nsec: Self.npub) }
        #expect(throws: NostrCryptoError.unexpectedBech32Prefix) { try NIP19.decode(Bech32.encode(prefix: "nrelay", payload: [1, 2])) }
        // Wrong payload size.
        #expect(throws: NostrCryptoError.invalidNIP19Payload) { try NIP19.decode(Bech32.encode(prefix: "npub", payload: [UInt8](repeating: 1, count: 31))) }
        // Beyond NIP-19's 5000-character bound.
        #expect(throws: NostrCryptoError.invalidBech32) { try Bech32.decode("a1" + String(repeating: "q", count: 5000)) }
        // Characters outside the bech32 set ("b", "i", "o", "1" after the separator).
        #expect(throws: NostrCryptoError.invalidBech32) { try NIP19.decode("npub1bbbbbbbbbbbb") }
    }

    @Test func longPayloadsWellPastNinetyCharacters() throws {
        let payload = (0..<300).map { UInt8($0 % 256) }
        let encoded = Bech32.encode(prefix: "ncryptsec", payload: payload)
        #expect(encoded.count > 400)
        let decoded = try Bech32.decode(encoded)
        #expect(decoded.prefix == "ncryptsec")
        #expect(decoded.payload == payload)
    }
}
