import Crypto
import CryptoExtras

/// A NIP-44 v2 conversation key: HKDF-extract(SHA-256, IKM = ECDH x coordinate, salt = "nip44-v2").
///
/// It is the same in both directions (a·B = b·A), so a signer computes it once per client and caches it.
public struct NIP44ConversationKey: Sendable {
    let storage: SecureBytes
    /// HMAC-SHA256 already keyed with the conversation key: every message's HKDF-expand copies it instead of
    /// keying three HMACs again. Its hash states are wiped with it (swift-crypto zeroes digest contexts).
    let keyedHMAC: HMAC<SHA256>

    private static let salt: [UInt8] = Array("nip44-v2".utf8)

    /// Derives the key shared by `secretKey` and `publicKey`.
    public init(secretKey: SecretKey, publicKey: PublicKey) throws {
        let sharedX = try ECDH.sharedX(secretKey: secretKey, publicKey: publicKey)
        let inputKey = sharedX.withUnsafeBytes { SymmetricKey(data: $0) }
        let extracted = HKDF<SHA256>.extract(inputKeyMaterial: inputKey, salt: Self.salt)
        self.storage = extracted.withUnsafeBytes { SecureBytes(copying: $0) }
        self.keyedHMAC = HMAC<SHA256>(key: SymmetricKey(data: extracted))
    }

    /// Wraps 32 bytes that already are a conversation key (test vectors, caches).
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == 32 else { throw NostrCryptoError.invalidConversationKey }
        self.storage = SecureBytes(copying: bytes)
        self.keyedHMAC = self.storage.withUnsafeBytes { HMAC<SHA256>(key: SymmetricKey(data: $0)) }
    }

    /// Gives `body` the 32 key bytes.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.storage.withUnsafeBytes(body)
    }
}

extension NIP44ConversationKey: CustomStringConvertible {
    public var description: String { "NIP44ConversationKey(redacted)" }
}

/// NIP-44 version 2 encryption: ChaCha20 + HMAC-SHA256 with padding, base64 payload with version byte 2.
///
/// Length policy. Encryption accepts 1...65535 bytes of plaintext: the two-byte length prefix of the original v2
/// format. The 2026 extension (a six-byte prefix for 65536 bytes and more) is not produced, because most deployed
/// peers still reject it and the published vector file still lists 65536+ as invalid. Decryption rejects, before
/// decoding anything, a base64 payload longer than that format allows (87,472 characters), and rejects an extended
/// prefix as invalid padding. The bound keeps an untrusted sender from making us decode and MAC arbitrary sizes.
public enum NIP44 {
    public static let version: UInt8 = 2
    /// The largest plaintext, in UTF-8 bytes.
    public static let maximumPlaintextBytes = 65_535
    /// Base64 length bounds of a version-2 payload with a two-byte length prefix.
    public static let minimumPayloadCharacters = 132
    public static let maximumPayloadCharacters = 87_472
    /// Decoded length bounds: version (1) + nonce (32) + padded plaintext (34...65538) + MAC (32).
    public static let minimumPayloadBytes = 99
    public static let maximumPayloadBytes = 65_603

    /// The keys one message uses, from HKDF-expand(conversation key, info = nonce, 76 bytes).
    public struct MessageKeys: Sendable {
        public let chachaKey: [UInt8]
        public let chachaNonce: [UInt8]
        public let hmacKey: [UInt8]
    }

    /// Derives the per-message keys. Exposed for the test vectors.
    public static func messageKeys(conversationKey: NIP44ConversationKey, nonce: some Collection<UInt8>) throws -> MessageKeys {
        let nonce = Array(nonce)
        guard nonce.count == 32 else { throw NostrCryptoError.invalidNonce }
        // HKDF-expand (RFC 5869) to 76 bytes, three blocks: T(i) = HMAC(PRK, T(i-1) | info | i).
        var expanded: [UInt8] = []
        expanded.reserveCapacity(96)
        defer { SecureBytes.wipe(&expanded) }
        for counter: UInt8 in 1...3 {
            var hmac = conversationKey.keyedHMAC
            hmac.update(data: expanded[max(0, expanded.count - 32)...])
            hmac.update(data: nonce)
            hmac.update(data: [counter])
            hmac.finalize().withUnsafeBytes { expanded.append(contentsOf: $0) }
        }
        return MessageKeys(
            chachaKey: Array(expanded[0..<32]),
            chachaNonce: Array(expanded[32..<44]),
            hmacKey: Array(expanded[44..<76])
        )
    }

    /// The padded length of a plaintext of `unpaddedLength` bytes (NIP-44's `calc_padded_len`).
    public static func paddedLength(_ unpaddedLength: Int) -> Int {
        precondition(unpaddedLength > 0, "NIP-44 plaintexts are at least one byte")
        if unpaddedLength <= 32 { return 32 }
        let nextPower = 1 << (Int.bitWidth - (unpaddedLength - 1).leadingZeroBitCount)
        let chunk = nextPower <= 256 ? 32 : nextPower / 8
        return chunk * ((unpaddedLength - 1) / chunk + 1)
    }

    /// Encrypts `plaintext` with a fresh random nonce.
    public static func encrypt(_ plaintext: String, conversationKey: NIP44ConversationKey) throws -> String {
        try self.encrypt(plaintext, conversationKey: conversationKey, nonce: SystemRandom.bytes(count: 32))
    }

    /// Encrypts with a caller-chosen nonce. Only for test vectors: a reused nonce breaks confidentiality.
    public static func encrypt(_ plaintext: String, conversationKey: NIP44ConversationKey, nonce: some Collection<UInt8>) throws -> String {
        let nonce = Array(nonce)
        guard nonce.count == 32 else { throw NostrCryptoError.invalidNonce }
        let length = plaintext.utf8.count
        guard length >= 1, length <= Self.maximumPlaintextBytes else { throw NostrCryptoError.plaintextLength }

        var padded = [UInt8](repeating: 0, count: 2 + Self.paddedLength(length))
        defer { SecureBytes.wipe(&padded) }
        padded[0] = UInt8(length >> 8)
        padded[1] = UInt8(length & 0xFF)
        _ = padded.withUnsafeMutableBufferPointer { buffer in
            UnsafeMutableBufferPointer(rebasing: buffer[2...]).initialize(from: plaintext.utf8)
        }

        let keys = try self.messageKeys(conversationKey: conversationKey, nonce: nonce)
        let ciphertext = try Insecure.ChaCha20CTR.encrypt(
            padded,
            using: SymmetricKey(data: keys.chachaKey),
            nonce: Insecure.ChaCha20CTR.Nonce(data: keys.chachaNonce)
        )
        var payload: [UInt8] = []
        payload.reserveCapacity(1 + 32 + ciphertext.count + 32)
        payload.append(Self.version)
        payload.append(contentsOf: nonce)
        payload.append(contentsOf: ciphertext)
        let mac = HMAC<SHA256>.authenticationCode(for: payload[1...], using: SymmetricKey(data: keys.hmacKey))
        payload.append(contentsOf: mac)
        return Base64.encode(payload)
    }

    /// Decrypts a payload.
    /// - Throws: ``NostrCryptoError/unsupportedVersion``, ``NostrCryptoError/invalidPayloadLength``,
    ///   ``NostrCryptoError/invalidBase64``, ``NostrCryptoError/invalidMAC``, ``NostrCryptoError/invalidPadding`` or
    ///   ``NostrCryptoError/invalidPlaintextEncoding``, checked in that order, the MAC before any decryption.
    public static func decrypt(_ payload: String, conversationKey: NIP44ConversationKey) throws -> String {
        let characters = payload.utf8
        if characters.first == UInt8(ascii: "#") { throw NostrCryptoError.unsupportedVersion }
        guard characters.count >= Self.minimumPayloadCharacters, characters.count <= Self.maximumPayloadCharacters else {
            throw NostrCryptoError.invalidPayloadLength
        }
        guard let data = Base64.decode(payload) else { throw NostrCryptoError.invalidBase64 }
        guard data.count >= Self.minimumPayloadBytes, data.count <= Self.maximumPayloadBytes else {
            throw NostrCryptoError.invalidPayloadLength
        }
        guard data[0] == Self.version else { throw NostrCryptoError.unsupportedVersion }

        let nonce = data[1..<33]
        let ciphertext = data[33..<(data.count - 32)]
        let receivedMAC = data[(data.count - 32)...]
        let keys = try self.messageKeys(conversationKey: conversationKey, nonce: nonce)
        let expectedMAC = HMAC<SHA256>.authenticationCode(for: data[1..<(data.count - 32)], using: SymmetricKey(data: keys.hmacKey))
        guard ConstantTime.equals(Array(expectedMAC), receivedMAC) else { throw NostrCryptoError.invalidMAC }

        var padded = Array(
            try Insecure.ChaCha20CTR.encrypt(
                ciphertext,
                using: SymmetricKey(data: keys.chachaKey),
                nonce: Insecure.ChaCha20CTR.Nonce(data: keys.chachaNonce)
            )
        )
        defer { SecureBytes.wipe(&padded) }
        let length = Int(padded[0]) << 8 | Int(padded[1])
        // A zero prefix would introduce the extended format, which this policy does not accept.
        guard length >= 1, padded.count == 2 + Self.paddedLength(length) else { throw NostrCryptoError.invalidPadding }
        guard let plaintext = String(validating: padded[2..<(2 + length)], as: UTF8.self) else {
            throw NostrCryptoError.invalidPlaintextEncoding
        }
        return plaintext
    }
}
