import Crypto
import NostrCrypto

/// What a sealed secret belongs to. It is the AES-GCM associated data of the seal, so a blob copied to another row,
/// another purpose or another public key does not open.
public struct SecretBinding: Sendable, Hashable {
    public let purpose: SecretPurpose
    public let rowID: String
    public let publicKey: PublicKey

    public init(purpose: SecretPurpose, rowID: String, publicKey: PublicKey) {
        self.purpose = purpose
        self.rowID = rowID
        self.publicKey = publicKey
    }

    var wrapContext: WrapContext { WrapContext(purpose: self.purpose, rowID: self.rowID) }

    /// `nostr-signer/secret/v<version>`, then purpose, row id and public key hex, each length-prefixed (u16 BE).
    var associatedData: [UInt8] {
        var bytes = Array("nostr-signer/secret/v\(SealedSecret.currentVersion)".utf8)
        for field in [self.purpose.rawValue, self.rowID, self.publicKey.hex] {
            let utf8 = Array(field.utf8)
            bytes.append(UInt8(utf8.count >> 8))
            bytes.append(UInt8(utf8.count & 0xFF))
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }
}

/// The KEK backends this process can use: the current one wraps new data keys; the others (during a migration between
/// backends) can still unwrap what they wrapped.
public struct KEKRing: Sendable {
    public let current: any KeyEncryptionBackend
    public let previous: [any KeyEncryptionBackend]

    public init(current: any KeyEncryptionBackend, previous: [any KeyEncryptionBackend] = []) {
        self.current = current
        self.previous = previous
    }

    /// The backend that can unwrap a data key wrapped by `kind`/`keyID`.
    public func backend(for kind: KEKBackendKind, keyID: String) throws -> any KeyEncryptionBackend {
        for candidate in [self.current] + self.previous where candidate.kind == kind && candidate.keyID == keyID {
            return candidate
        }
        throw CustodyError(.unknownKEK, "no configured \(kind) KEK has key id \(keyID)")
    }
}

/// Envelope encryption of 32-byte Nostr secrets: a fresh random data key per secret, AES-256-GCM with the row binding
/// as associated data, and the data key wrapped by the KEK.
public enum Envelope {
    /// Seals `secret` for the row described by `binding`.
    public static func seal(_ secret: SecretKey, binding: SecretBinding, kek: any KeyEncryptionBackend) async throws -> SealedSecret {
        precondition(binding.publicKey == secret.publicKey, "a binding must name the secret's own public key")
        let dataKey = try await kek.generateDataKey(context: binding.wrapContext)
        let sealed = try dataKey.plaintext.withUnsafeBytes { keyBytes in
            try secret.withUnsafeSecretBytes { secretBytes in
                try AES.GCM.seal(secretBytes, using: SymmetricKey(data: keyBytes), authenticating: binding.associatedData)
            }
        }
        return SealedSecret(
            backend: kek.kind,
            kekKeyID: kek.keyID,
            wrappedDataKey: dataKey.wrapped,
            nonce: Array(sealed.nonce),
            sealedBytes: Array(sealed.ciphertext) + Array(sealed.tag)
        )
    }

    /// Opens a sealed secret and checks it is the key `binding` names.
    /// - Throws: ``CustodyError/Code/unknownKEK``, ``CustodyError/Code/kekUnavailable``, or
    ///   ``CustodyError/Code/secretDoesNotOpen`` (wrong KEK, tampering, or a blob from another row).
    public static func open(_ sealed: SealedSecret, binding: SecretBinding, keks: KEKRing) async throws -> SecretKey {
        let backend = try keks.backend(for: sealed.backend, keyID: sealed.kekKeyID)
        let dataKey = try await backend.unwrap(wrappedDataKey: sealed.wrappedDataKey, keyID: sealed.kekKeyID, context: binding.wrapContext)
        let doesNotOpen = CustodyError(.secretDoesNotOpen, "sealed secret does not open for \(binding.purpose.rawValue) \(binding.rowID)")
        let key: SecretKey
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed.nonce),
                ciphertext: sealed.sealedBytes.prefix(SealedSecret.ciphertextCount),
                tag: sealed.sealedBytes.suffix(SealedSecret.tagCount)
            )
            var secretBytes = Array(
                try dataKey.withUnsafeBytes { try AES.GCM.open(box, using: SymmetricKey(data: $0), authenticating: binding.associatedData) }
            )
            defer { SecureBytes.wipe(&secretBytes) }
            key = try SecretKey(bytes: secretBytes)
        } catch {
            throw doesNotOpen
        }
        // Belt and braces: the public key is in the associated data already, so this only fails on a logic error.
        guard key.publicKey == binding.publicKey else { throw doesNotOpen }
        return key
    }

    /// Re-wraps the data key of `sealed` under `target` without touching the sealed secret (KEK rotation).
    public static func rewrap(_ sealed: SealedSecret, binding: SecretBinding, keks: KEKRing, target: any KeyEncryptionBackend) async throws -> SealedSecret {
        let source = try keks.backend(for: sealed.backend, keyID: sealed.kekKeyID)
        let context = binding.wrapContext
        let dataKey = try await source.unwrap(wrappedDataKey: sealed.wrappedDataKey, keyID: sealed.kekKeyID, context: context)
        var rewrapped = sealed
        rewrapped.backend = target.kind
        rewrapped.kekKeyID = target.keyID
        rewrapped.wrappedDataKey = try await target.wrap(dataKey: dataKey, context: context)
        return rewrapped
    }
}
