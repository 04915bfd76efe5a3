/// The stored form of one sealed secret (format version 1). `docs/custody.md` documents it byte by byte:
///
/// ```
/// offset  size  field
/// 0       1     format version (1)
/// 1       1     KEK backend (1 = file, 2 = aws-kms)
/// 2       1     length K of the KEK key id
/// 3       K     KEK key id, UTF-8
/// 3+K     2     length W of the wrapped data key, big-endian
/// 5+K     W     wrapped data key (as the backend produced it)
/// 5+K+W   12    AES-GCM nonce
/// 17+K+W  32    ciphertext of the 32-byte secret
/// 49+K+W  16    AES-GCM tag
/// ```
public struct SealedSecret: Sendable, Hashable {
    public static let currentVersion: UInt8 = 1
    static let nonceCount = 12
    static let ciphertextCount = 32
    static let tagCount = 16

    public var backend: KEKBackendKind
    public var kekKeyID: String
    public var wrappedDataKey: [UInt8]
    public var nonce: [UInt8]
    /// Ciphertext followed by the tag.
    public var sealedBytes: [UInt8]

    public init(backend: KEKBackendKind, kekKeyID: String, wrappedDataKey: [UInt8], nonce: [UInt8], sealedBytes: [UInt8]) {
        self.backend = backend
        self.kekKeyID = kekKeyID
        self.wrappedDataKey = wrappedDataKey
        self.nonce = nonce
        self.sealedBytes = sealedBytes
    }

    /// Parses a stored blob.
    /// - Throws: ``CustodyError/Code/unsupportedFormatVersion`` for another version, else
    ///   ``CustodyError/Code/corruptedSecret`` for anything truncated, overlong or malformed.
    public init(bytes: [UInt8]) throws {
        let corrupted = CustodyError(.corruptedSecret, "sealed secret is truncated or malformed")
        guard let version = bytes.first else { throw corrupted }
        guard version == Self.currentVersion else {
            throw CustodyError(.unsupportedFormatVersion, "sealed secret has format version \(version); this build reads version \(Self.currentVersion)")
        }
        guard bytes.count >= 3, let backend = KEKBackendKind(rawValue: bytes[1]) else { throw corrupted }
        var index = 2
        let keyIDCount = Int(bytes[index])
        index += 1
        guard keyIDCount > 0, bytes.count >= index + keyIDCount + 2,
            let keyID = String(validating: bytes[index..<(index + keyIDCount)], as: UTF8.self)
        else { throw corrupted }
        index += keyIDCount
        let wrappedCount = Int(bytes[index]) << 8 | Int(bytes[index + 1])
        index += 2
        guard wrappedCount > 0,
            bytes.count == index + wrappedCount + Self.nonceCount + Self.ciphertextCount + Self.tagCount
        else { throw corrupted }
        self.backend = backend
        self.kekKeyID = keyID
        self.wrappedDataKey = Array(bytes[index..<(index + wrappedCount)])
        index += wrappedCount
        self.nonce = Array(bytes[index..<(index + Self.nonceCount)])
        index += Self.nonceCount
        self.sealedBytes = Array(bytes[index...])
    }

    /// The stored form.
    public var bytes: [UInt8] {
        let keyID = Array(self.kekKeyID.utf8)
        precondition(!keyID.isEmpty && keyID.count <= 255, "KEK key id must be 1...255 bytes")
        precondition(!self.wrappedDataKey.isEmpty && self.wrappedDataKey.count <= 0xFFFF, "wrapped data key too large")
        var output: [UInt8] = [Self.currentVersion, self.backend.rawValue, UInt8(keyID.count)]
        output.append(contentsOf: keyID)
        output.append(UInt8(self.wrappedDataKey.count >> 8))
        output.append(UInt8(self.wrappedDataKey.count & 0xFF))
        output.append(contentsOf: self.wrappedDataKey)
        output.append(contentsOf: self.nonce)
        output.append(contentsOf: self.sealedBytes)
        return output
    }
}
