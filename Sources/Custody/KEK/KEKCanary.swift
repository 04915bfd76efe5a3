import Crypto
import NostrCrypto

/// Detects a wrong KEK at start-up, before any user key is touched.
///
/// At initialisation a fixed, public value is sealed like any secret and stored as metadata; every start opens it
/// with the configured KEKs. If it does not open, the KEK is not the one the stored keys were sealed under, and
/// start-up stops with "KEK does not match the stored keys" instead of failing later, key by key.
public enum KEKCanary {
    static let metadataName = "kek_canary"

    /// A valid secret key derived from a fixed label. It protects nothing; it only proves the KEK opens what it sealed.
    static let secret: SecretKey = {
        let digest = SHA256.hash(data: Array("nostr-signer/kek-canary/v1".utf8))
        return try! SecretKey(bytes: Array(digest))
    }()

    static var binding: SecretBinding {
        SecretBinding(purpose: .canary, rowID: "kek-canary", publicKey: Self.secret.publicKey)
    }

    /// Opens the stored canary with `keks`, or seals and stores one if there is none yet.
    /// - Throws: ``CustodyError/Code/kekMismatch`` if the canary does not open; ``CustodyError/Code/kekUnavailable`` if
    ///   the KMS cannot be reached.
    public static func verifyOrInitialize(keks: KEKRing, store: any CustodyStore) async throws {
        if let stored = try await store.metadata(name: Self.metadataName) {
            try await Self.verify(stored, keks: keks)
            return
        }
        let sealed = try await Envelope.seal(Self.secret, binding: Self.binding, kek: keks.current)
        if !(try await store.insertMetadata(name: Self.metadataName, value: sealed.bytes)) {
            // Another instance initialised first: check against the canary it stored.
            guard let stored = try await store.metadata(name: Self.metadataName) else {
                throw CustodyError(.storeUnavailable, "KEK canary vanished during initialisation")
            }
            try await Self.verify(stored, keks: keks)
        }
    }

    private static func verify(_ stored: [UInt8], keks: KEKRing) async throws {
        do {
            _ = try await Envelope.open(SealedSecret(bytes: stored), binding: Self.binding, keks: keks)
        } catch let error as CustodyError where error.code == .kekUnavailable {
            throw error
        } catch {
            throw CustodyError(.kekMismatch, "KEK does not match the stored keys")
        }
    }

    /// Re-wraps the canary under `target` (the last step of a KEK rotation).
    public static func rewrap(keks: KEKRing, target: any KeyEncryptionBackend, store: any CustodyStore) async throws -> SealedSecret? {
        guard let stored = try await store.metadata(name: Self.metadataName) else { return nil }
        return try await Envelope.rewrap(SealedSecret(bytes: stored), binding: Self.binding, keks: keks, target: target)
    }
}

extension FileKeyEncryptionBackend {
    /// The file KEK for a store, as `signer serve` and `signer migrate` open it.
    ///
    /// The file is created (mode 0600) only if it is missing **and** the store holds no sealed secret; a missing file
    /// next to sealed keys means the key was lost or misconfigured, and creating a new one would orphan every key.
    /// Then the canary is verified (or sealed on first start).
    public static func openOrCreate(path: String, store: any CustodyStore) async throws -> FileKeyEncryptionBackend {
        let backend: FileKeyEncryptionBackend
        do {
            backend = try Self.open(path: path)
        } catch let error as CustodyError where error.code == .kekFileMissing {
            let sealedKeysExist = try await store.hasSealedSecrets()
            let canaryExists = try await store.metadata(name: KEKCanary.metadataName) != nil
            if sealedKeysExist || canaryExists {
                throw CustodyError(
                    .kekFileMissing,
                    "KEK file \(path) is missing but the database holds sealed keys; restore the file (a new KEK would not open them)"
                )
            }
            backend = try Self.create(path: path)
        }
        try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: backend), store: store)
        return backend
    }
}
