import Custody
import NostrCrypto

/// The signer's own Nostr identity: `names._` in its NIP-05 document (`/.well-known/nostr.json`), the key apps check a
/// signer's NIP-89 announcement against. It is an ordinary custody key (sealed, cached and re-wrapped by KEK rotation
/// like any other), created at the first start and named in the store's metadata, so every instance sharing the
/// database presents the same identity. The admin API refuses to delete it.
struct SignerIdentity: Sendable, Hashable {
    static let metadataName = "signer_identity_key_id"
    static let label = "signer identity (NIP-05 names._)"

    let keyID: String
    let publicKey: PublicKey

    /// The stored identity, or a new one when there is none yet.
    static func resolve(custodian: KeyCustodian) async throws -> SignerIdentity {
        let store = custodian.store
        if let stored = try await self.stored(store) { return stored }
        let created = try await custodian.createKey(label: Self.label)
        if try await store.insertMetadata(name: Self.metadataName, value: Array(created.id.utf8)) {
            return SignerIdentity(keyID: created.id, publicKey: created.publicKey)
        }
        // Another instance named its own first; that one is the identity.
        try await custodian.deleteKey(id: created.id)
        guard let winner = try await self.stored(store) else {
            throw CustodyError(.storeUnavailable, "the signer identity could not be read back")
        }
        return winner
    }

    private static func stored(_ store: any CustodyStore) async throws -> SignerIdentity? {
        guard let value = try await store.metadata(name: Self.metadataName) else { return nil }
        let id = String(decoding: value, as: UTF8.self)
        guard let key = try await store.key(id: id) else {
            throw CustodyError(.notFound, "the signer identity key \(id) named in the metadata does not exist")
        }
        return SignerIdentity(keyID: key.id, publicKey: key.publicKey)
    }
}
