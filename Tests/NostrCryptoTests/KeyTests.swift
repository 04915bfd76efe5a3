import NostrCrypto
import Testing

struct KeyTests {
    static let curveOrder = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    static let curveOrderMinusOne = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"

    @Test func secretKeyRange() throws {
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(hex: String(repeating: "0", count: 64)) }
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(hex: Self.curveOrder) }
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(hex: String(repeating: "f", count: 64)) }
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(bytes: [UInt8](repeating: 1, count: 33)) }
        #expect(throws: NostrCryptoError.invalidSecretKey) { try SecretKey(hex: "zz" + String(repeating: "0", count: 62)) }
        // n-1 is the largest valid key; its public key is G's x coordinate (n-1 = -1, and x(-G) = x(G)).
        let largest = try SecretKey(hex: Self.curveOrderMinusOne)
        #expect(largest.publicKey.hex == "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        let one = try SecretKey(hex: String(repeating: "0", count: 63) + "1")
        #expect(one.publicKey.hex == "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    }

    @Test func secretKeyIsNeverPrinted() throws {
        let hex = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
        let key = try SecretKey(hex: hex)
        var dumped = ""
        dump(key, to: &dumped)
        for rendering in ["\(key)", String(describing: key), String(reflecting: key), dumped, "\([key])", "\(Optional(key) as Any)"] {
            #expect(!rendering.contains(hex), "rendering leaked the key: \(rendering.prefix(20))")
            #expect(!rendering.contains("67dea2ed"))
            #expect(!rendering.contains(key.exportNsec()))
        }
        #expect("\(key)" == "SecretKey(redacted)")
        #expect(dumped == "- SecretKey(redacted)\n")
    }

    @Test func secretKeyExportRoundTrips() throws {
        let hex = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
        let key = try SecretKey(hex: hex.uppercased())
        #expect(key.exportHex() == hex)
        #expect(try SecretKey(nsec: key.exportNsec()).exportHex() == hex)
        let generated = SecretKey.generate()
        #expect(try SecretKey(hex: generated.exportHex()).publicKey == generated.publicKey)
        #expect(SecretKey.generate().publicKey != generated.publicKey)
    }

    @Test func publicKeyValidation() throws {
        let valid = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        #expect(try PublicKey(hex: valid).hex == valid)
        #expect(try PublicKey(hex: valid.uppercased()).hex == valid)
        // x = 5 is not the x coordinate of any point (5^3 + 7 = 132 is not a square mod p).
        #expect(throws: NostrCryptoError.invalidPublicKey) { try PublicKey(hex: String(repeating: "0", count: 63) + "5") }
        #expect(throws: NostrCryptoError.invalidPublicKey) { try PublicKey(hex: String(repeating: "f", count: 64)) }
        #expect(throws: NostrCryptoError.invalidPublicKey) { try PublicKey(hex: String(valid.dropLast(2))) }
        #expect(throws: NostrCryptoError.invalidPublicKey) { try PublicKey(bytes: [UInt8](repeating: 0, count: 32)) }
    }

    @Test func schnorrRejectsBadInput() throws {
        let key = try SecretKey(hex: String(repeating: "0", count: 63) + "3")
        let message = [UInt8](repeating: 7, count: 32)
        #expect(throws: NostrCryptoError.invalidMessageLength) { try Schnorr.sign(message: [UInt8](repeating: 7, count: 31), with: key) }
        #expect(throws: NostrCryptoError.invalidAuxiliaryRandomness) {
            try Schnorr.sign(message: message, with: key, auxiliaryRandomness: [UInt8](repeating: 0, count: 16))
        }
        let signature = try Schnorr.sign(message: message, with: key)
        #expect(Schnorr.verify(signature: signature, message: message, publicKey: key.publicKey))
        #expect(!Schnorr.verify(signature: signature.dropLast(), message: message, publicKey: key.publicKey))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!Schnorr.verify(signature: flipped, message: message, publicKey: key.publicKey))
        let other = try SecretKey(hex: String(repeating: "0", count: 63) + "4")
        #expect(!Schnorr.verify(signature: signature, message: message, publicKey: other.publicKey))
        // Fresh auxiliary randomness: two signatures of the same message differ, and both verify.
        let second = try Schnorr.sign(message: message, with: key)
        #expect(second != signature)
        #expect(Schnorr.verify(signature: second, message: message, publicKey: key.publicKey))
    }

    @Test func ecdhIsSymmetricAndRaw() throws {
        let one = try SecretKey(hex: String(repeating: "0", count: 63) + "1")
        let two = try SecretKey(hex: String(repeating: "0", count: 63) + "2")
        let forward = try ECDH.sharedX(secretKey: one, publicKey: two.publicKey)
        let backward = try ECDH.sharedX(secretKey: two, publicKey: one.publicKey)
        // 1·(2G) = 2G: the raw x coordinate of 2G, unhashed.
        #expect(forward.withUnsafeBytes { Hex.encode($0) } == "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
        #expect(backward.withUnsafeBytes { Array($0) } == forward.withUnsafeBytes { Array($0) })
        #expect("\(forward)" == "SecureBytes(32 bytes, redacted)")
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }
}
