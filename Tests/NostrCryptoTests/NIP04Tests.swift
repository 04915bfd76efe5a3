import NostrCrypto
import Testing

/// NIP-04 against ciphertexts computed independently (Python `cryptography`, AES-256-CBC/PKCS#7) with the raw x
/// coordinate of ECDH(1, 2G) as key and IV 00 01 … 0f.
struct NIP04Tests {
    static let one = try! SecretKey(hex: String(repeating: "0", count: 63) + "1")
    static let two = try! SecretKey(hex: String(repeating: "0", count: 63) + "2")
    static let iv = (0..<16).map { UInt8($0) }

    static let cases: [(plaintext: String, payload: String)] = [
        ("hello nostr", "0CUe+wSt9RiprtqKS6j3eg==?iv=AAECAwQFBgcICQoLDA0ODw=="),
        ("", "eMVa+YnBiiVo6BTRlH6tFw==?iv=AAECAwQFBgcICQoLDA0ODw=="),
        (
            String(repeating: "é🦄", count: 10),
            "NHAv1r2jyeef0JYu3uXiIHDa1N5GqiCQlywhorH1UveW7qJizSLqXhmK1KTrzUNwoJV5AtW0ooiTRKEbmRNgkw==?iv=AAECAwQFBgcICQoLDA0ODw=="
        ),
    ]

    @Test func knownCiphertexts() throws {
        let forward = try NIP04SharedKey(secretKey: Self.one, publicKey: Self.two.publicKey)
        let backward = try NIP04SharedKey(secretKey: Self.two, publicKey: Self.one.publicKey)
        for (plaintext, payload) in Self.cases {
            #expect(try NIP04.encrypt(plaintext, sharedKey: forward, iv: Self.iv) == payload)
            #expect(try NIP04.decrypt(payload, sharedKey: backward) == plaintext)
        }
    }

    @Test func randomIVRoundTrip() throws {
        let payload = try NIP04.encrypt("round trip", secretKey: Self.one, publicKey: Self.two.publicKey)
        #expect(NIP04.looksLikeNIP04(payload))
        #expect(try NIP04.decrypt(payload, secretKey: Self.two, publicKey: Self.one.publicKey) == "round trip")
        let again = try NIP04.encrypt("round trip", secretKey: Self.one, publicKey: Self.two.publicKey)
        #expect(again != payload)
    }

    @Test func legacyEncodingsAreAccepted() throws {
        let key = try NIP04SharedKey(secretKey: Self.two, publicKey: Self.one.publicKey)
        // Without padding, and with line breaks inside the ciphertext.
        #expect(try NIP04.decrypt("0CUe+wSt9RiprtqKS6j3eg?iv=AAECAwQFBgcICQoLDA0ODw", sharedKey: key) == "hello nostr")
        #expect(try NIP04.decrypt("0CUe+wSt9Rip\nrtqKS6j3eg==?iv=AAECAwQFBgcICQoLDA0ODw==", sharedKey: key) == "hello nostr")
    }

    @Test func everyFailureIsTheSameError() throws {
        let key = try NIP04SharedKey(secretKey: Self.two, publicKey: Self.one.publicKey)
        let wrongKey = try NIP04SharedKey(secretKey: Self.two, publicKey: Self.two.publicKey)
        let payload = Self.cases[2].payload
        let failures = [
            "",
            "0CUe+wSt9RiprtqKS6j3eg==",  // no IV
            "0CUe+wSt9RiprtqKS6j3eg==?iv=AAECAwQFBgcICQoLDA0O",  // 12-byte IV
            "0CUe-wSt9RiprtqKS6j3eg==?iv=AAECAwQFBgcICQoLDA0ODw==",  // URL-safe alphabet
            "0CUe+wSt9RiprtqK?iv=AAECAwQFBgcICQoLDA0ODw==",  // not a whole block
            "?iv=AAECAwQFBgcICQoLDA0ODw==",  // empty ciphertext
            String(payload.dropFirst(24)),  // truncated
            String(repeating: "A", count: NIP04.maximumPayloadCharacters) + "?iv=AAECAwQFBgcICQoLDA0ODw==",  // too long
        ]
        for failure in failures {
            #expect(throws: NostrCryptoError.nip04DecryptionFailed, "payload \(failure.prefix(30))") {
                try NIP04.decrypt(failure, sharedKey: key)
            }
        }
        // The wrong key fails (bad padding or bad UTF-8) with the same error, never partial plaintext.
        #expect(throws: NostrCryptoError.nip04DecryptionFailed) { try NIP04.decrypt(payload, sharedKey: wrongKey) }
    }

    @Test func plaintextBound() throws {
        let key = try NIP04SharedKey(secretKey: Self.one, publicKey: Self.two.publicKey)
        let largest = String(repeating: "a", count: NIP04.maximumPlaintextBytes)
        let payload = try NIP04.encrypt(largest, sharedKey: key)
        #expect(payload.utf8.count <= NIP04.maximumPayloadCharacters)
        #expect(try NIP04.decrypt(payload, secretKey: Self.two, publicKey: Self.one.publicKey) == largest)
        #expect(throws: NostrCryptoError.plaintextLength) { try NIP04.encrypt(largest + "a", sharedKey: key) }
    }
}
