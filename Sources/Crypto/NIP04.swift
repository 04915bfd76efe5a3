import Crypto
import CryptoExtras

/// The NIP-04 key: the raw ECDH x coordinate, used directly as an AES-256 key.
public struct NIP04SharedKey: Sendable {
    let storage: SecureBytes

    public init(secretKey: SecretKey, publicKey: PublicKey) throws {
        self.storage = try ECDH.sharedX(secretKey: secretKey, publicKey: publicKey)
    }

    var symmetricKey: SymmetricKey { self.storage.withUnsafeBytes { SymmetricKey(data: $0) } }
}

extension NIP04SharedKey: CustomStringConvertible {
    public var description: String { "NIP04SharedKey(redacted)" }
}

/// NIP-04 (deprecated, still used by `nip04_*` and legacy NIP-46 transport): AES-256-CBC with PKCS#7 padding,
/// a random 16-byte IV, and the payload `base64(ciphertext)?iv=base64(iv)`.
///
/// There is no MAC, so decryption reports every failure (bad format, bad base64, bad padding, invalid UTF-8) as the
/// one ``NostrCryptoError/nip04DecryptionFailed`` and never returns partial plaintext: a padding oracle learns nothing
/// from which check failed. Base64 is accepted with or without padding and with embedded whitespace, as legacy
/// clients produce; the URL-safe alphabet is not.
public enum NIP04 {
    /// The largest plaintext, in UTF-8 bytes; matches NIP-44's so both methods bound requests alike.
    public static let maximumPlaintextBytes = 65_535
    /// The longest payload accepted for decryption (the ciphertext of the largest plaintext, its IV, and room for
    /// whitespace in legacy encodings).
    public static let maximumPayloadCharacters = 100_000

    private static let separator: [UInt8] = Array("?iv=".utf8)

    public static func encrypt(_ plaintext: String, sharedKey: NIP04SharedKey) throws -> String {
        try self.encrypt(plaintext, sharedKey: sharedKey, iv: SystemRandom.bytes(count: 16))
    }

    /// Encrypts with a caller-chosen IV. Only for tests.
    public static func encrypt(_ plaintext: String, sharedKey: NIP04SharedKey, iv: [UInt8]) throws -> String {
        guard iv.count == 16 else { throw NostrCryptoError.invalidNonce }
        guard plaintext.utf8.count <= Self.maximumPlaintextBytes else { throw NostrCryptoError.plaintextLength }
        let ciphertext = try AES._CBC.encrypt(Array(plaintext.utf8), using: sharedKey.symmetricKey, iv: AES._CBC.IV(ivBytes: iv))
        return Base64.encode(ciphertext) + "?iv=" + Base64.encode(iv)
    }

    public static func encrypt(_ plaintext: String, secretKey: SecretKey, publicKey: PublicKey) throws -> String {
        try self.encrypt(plaintext, sharedKey: NIP04SharedKey(secretKey: secretKey, publicKey: publicKey))
    }

    public static func decrypt(_ payload: String, sharedKey: NIP04SharedKey) throws -> String {
        let bytes = Array(payload.utf8)
        guard bytes.count <= Self.maximumPayloadCharacters,
            let separatorIndex = Self.firstIndex(of: Self.separator, in: bytes)
        else {
            throw NostrCryptoError.nip04DecryptionFailed
        }
        let ciphertextText = String(decoding: bytes[..<separatorIndex], as: UTF8.self)
        let ivText = String(decoding: bytes[(separatorIndex + Self.separator.count)...], as: UTF8.self)
        guard let ciphertext = Base64.decode(ciphertextText, requirePadding: false, skipWhitespace: true),
            !ciphertext.isEmpty, ciphertext.count % 16 == 0,
            let iv = Base64.decode(ivText, requirePadding: false, skipWhitespace: true), iv.count == 16,
            let ivValue = try? AES._CBC.IV(ivBytes: iv),
            let decrypted = try? AES._CBC.decrypt(ciphertext, using: sharedKey.symmetricKey, iv: ivValue)
        else {
            throw NostrCryptoError.nip04DecryptionFailed
        }
        var plaintextBytes = Array(decrypted)
        defer { SecureBytes.wipe(&plaintextBytes) }
        guard let plaintext = String(validating: plaintextBytes, as: UTF8.self) else { throw NostrCryptoError.nip04DecryptionFailed }
        return plaintext
    }

    public static func decrypt(_ payload: String, secretKey: SecretKey, publicKey: PublicKey) throws -> String {
        try self.decrypt(payload, sharedKey: NIP04SharedKey(secretKey: secretKey, publicKey: publicKey))
    }

    /// Whether `content` looks like NIP-04 rather than NIP-44 (NIP-46 uses this to pick the reply scheme).
    public static func looksLikeNIP04(_ content: String) -> Bool {
        self.firstIndex(of: Self.separator, in: Array(content.utf8)) != nil
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
