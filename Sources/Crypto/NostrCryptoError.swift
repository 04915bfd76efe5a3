/// An error from NostrCrypto. Its text names what failed and never contains key material or plaintext.
public struct NostrCryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidSecretKey
        case invalidPublicKey
        case invalidSignatureLength
        case invalidMessageLength
        case invalidAuxiliaryRandomness
        case signingFailed
        case invalidConversationKey
        case invalidNonce
        case plaintextLength
        case unsupportedVersion
        case invalidBase64
        case invalidPayloadLength
        case invalidMAC
        case invalidPadding
        case invalidPlaintextEncoding
        case nip04DecryptionFailed
        case invalidBech32
        case unexpectedBech32Prefix
        case invalidNIP19Payload
    }

    private let code: Code

    private init(_ code: Code) { self.code = code }

    /// A secret key that is not 32 bytes in [1, n-1] (or not valid hex, nsec).
    public static let invalidSecretKey = Self(.invalidSecretKey)
    /// A public key that is not 32 bytes of the x coordinate of a point on secp256k1.
    public static let invalidPublicKey = Self(.invalidPublicKey)
    /// A BIP-340 signature that is not 64 bytes.
    public static let invalidSignatureLength = Self(.invalidSignatureLength)
    /// A message to sign that is not 32 bytes.
    public static let invalidMessageLength = Self(.invalidMessageLength)
    /// Auxiliary randomness that is not 32 bytes.
    public static let invalidAuxiliaryRandomness = Self(.invalidAuxiliaryRandomness)
    /// libsecp256k1 refused to sign.
    public static let signingFailed = Self(.signingFailed)
    /// A NIP-44 conversation key that is not 32 bytes.
    public static let invalidConversationKey = Self(.invalidConversationKey)
    /// A NIP-44 nonce that is not 32 bytes or a NIP-04 IV that is not 16 bytes.
    public static let invalidNonce = Self(.invalidNonce)
    /// A plaintext outside the lengths the scheme accepts.
    public static let plaintextLength = Self(.plaintextLength)
    /// A NIP-44 payload of a version other than 2.
    public static let unsupportedVersion = Self(.unsupportedVersion)
    /// A payload that is not standard base64.
    public static let invalidBase64 = Self(.invalidBase64)
    /// A NIP-44 payload that is too short or too long.
    public static let invalidPayloadLength = Self(.invalidPayloadLength)
    /// A NIP-44 payload whose MAC does not match.
    public static let invalidMAC = Self(.invalidMAC)
    /// A NIP-44 payload whose padding is malformed.
    public static let invalidPadding = Self(.invalidPadding)
    /// A decrypted payload that is not UTF-8.
    public static let invalidPlaintextEncoding = Self(.invalidPlaintextEncoding)
    /// Any NIP-04 decryption failure. One error for all of them, so failures reveal nothing about the plaintext.
    public static let nip04DecryptionFailed = Self(.nip04DecryptionFailed)
    /// A string that is not valid bech32.
    public static let invalidBech32 = Self(.invalidBech32)
    /// A bech32 string with a different human-readable prefix than expected.
    public static let unexpectedBech32Prefix = Self(.unexpectedBech32Prefix)
    /// A NIP-19 entity whose payload has the wrong size or a malformed TLV.
    public static let invalidNIP19Payload = Self(.invalidNIP19Payload)

    public var description: String {
        switch self.code {
        case .invalidSecretKey: "invalid secret key: expected 32 bytes in the range 1...n-1"
        case .invalidPublicKey: "invalid public key: expected the 32-byte x coordinate of a secp256k1 point"
        case .invalidSignatureLength: "invalid signature: expected 64 bytes"
        case .invalidMessageLength: "invalid message: expected 32 bytes"
        case .invalidAuxiliaryRandomness: "invalid auxiliary randomness: expected 32 bytes"
        case .signingFailed: "signing failed"
        case .invalidConversationKey: "invalid conversation key: expected 32 bytes"
        case .invalidNonce: "invalid nonce or IV length"
        case .plaintextLength: "invalid plaintext length"
        case .unsupportedVersion: "unsupported encryption version"
        case .invalidBase64: "invalid base64"
        case .invalidPayloadLength: "invalid payload length"
        case .invalidMAC: "invalid MAC"
        case .invalidPadding: "invalid padding"
        case .invalidPlaintextEncoding: "decrypted plaintext is not valid UTF-8"
        case .nip04DecryptionFailed: "NIP-04 decryption failed"
        case .invalidBech32: "invalid bech32 string"
        case .unexpectedBech32Prefix: "unexpected bech32 prefix"
        case .invalidNIP19Payload: "invalid NIP-19 payload"
        }
    }
}
