import CSecp256k1

/// BIP-340 Schnorr signatures over secp256k1, through libsecp256k1.
public enum Schnorr {
    /// Signs a 32-byte message (for Nostr, an event id) with fresh 32-byte auxiliary randomness from the CSPRNG.
    /// - Returns: the 64-byte signature.
    @inlinable
    public static func sign(message: some Collection<UInt8>, with key: SecretKey) throws -> [UInt8] {
        try self.signWithFreshRandomness(message: Array(message), key: key)
    }

    @usableFromInline
    static func signWithFreshRandomness(message: [UInt8], key: SecretKey) throws -> [UInt8] {
        var auxiliary = SystemRandom.bytes(count: 32)
        defer { SecureBytes.wipe(&auxiliary) }
        return try self.sign(messageBytes: message, key: key, auxiliary: auxiliary)
    }

    /// Signs with caller-chosen auxiliary randomness. Exists for the BIP-340 test vectors; production signing
    /// uses ``sign(message:with:)``.
    @inlinable
    public static func sign(
        message: some Collection<UInt8>,
        with key: SecretKey,
        auxiliaryRandomness: some Collection<UInt8>
    ) throws -> [UInt8] {
        try self.sign(messageBytes: Array(message), key: key, auxiliary: Array(auxiliaryRandomness))
    }

    @usableFromInline
    static func sign(messageBytes message: [UInt8], key: SecretKey, auxiliary: [UInt8]) throws -> [UInt8] {
        guard message.count == 32 else { throw NostrCryptoError.invalidMessageLength }
        guard auxiliary.count == 32 else { throw NostrCryptoError.invalidAuxiliaryRandomness }
        var signature = [UInt8](repeating: 0, count: 64)
        let result = key.withUnsafeKeypair { keypair in
            secp256k1_schnorrsig_sign32(Secp256k1Context.shared.pointer, &signature, message, keypair, auxiliary)
        }
        guard result == 1 else { throw NostrCryptoError.signingFailed }
        return signature
    }

    /// Whether `signature` is a valid BIP-340 signature of `message` by `publicKey`.
    /// Any malformed input (a signature that is not 64 bytes) is simply not valid.
    @inlinable
    public static func verify(signature: some Collection<UInt8>, message: some Collection<UInt8>, publicKey: PublicKey) -> Bool {
        self.verify(signatureBytes: Array(signature), messageBytes: Array(message), publicKey: publicKey)
    }

    @usableFromInline
    static func verify(signatureBytes signature: [UInt8], messageBytes message: [UInt8], publicKey: PublicKey) -> Bool {
        guard signature.count == 64 else { return false }
        var parsed = publicKey.parsed
        return secp256k1_schnorrsig_verify(Secp256k1Context.shared.pointer, signature, message, message.count, &parsed) == 1
    }
}
