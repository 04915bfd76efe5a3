import Crypto
import Custody
import NostrCrypto

/// The admin API's bearer token, held only as its SHA-256.
///
/// From `SIGNER_ADMIN_TOKEN` when set; otherwise the hash stored in the database (metadata `admin_token_sha256`);
/// otherwise a new token is generated, its hash stored, and the token printed once. Instances sharing a database
/// share the stored hash; when two start together, the one whose insert wins prints its token and the other uses it.
struct AdminToken: Sendable {
    static let metadataName = "admin_token_sha256"
    static let prefix = "nsadm_"

    let hash: [UInt8]

    init(token: String) { self.hash = Self.sha256(token) }
    init(hash: [UInt8]) { self.hash = hash }

    func matches(_ presented: String) -> Bool { ConstantTime.equals(Self.sha256(presented), self.hash) }

    /// The configured token, or the stored one, or a new one (returned so the caller can print it once).
    static func resolve(configured: String?, store: any CustodyStore) async throws -> (token: AdminToken, generated: String?) {
        if let configured { return (AdminToken(token: configured), nil) }
        if let stored = try await store.metadata(name: Self.metadataName) { return (AdminToken(hash: stored), nil) }
        let token = Self.prefix + Hex.encode(SystemRandom.bytes(count: 32))
        if try await store.insertMetadata(name: Self.metadataName, value: Self.sha256(token)) {
            return (AdminToken(token: token), token)
        }
        // Another instance stored one first.
        guard let stored = try await store.metadata(name: Self.metadataName) else {
            throw CustodyError(.storeUnavailable, "the admin token hash could not be read back")
        }
        return (AdminToken(hash: stored), nil)
    }

    static func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }
}
