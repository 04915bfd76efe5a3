/// NIP-19 bech32 entities: `npub`, `nsec`, `note` and `nprofile`.
public enum NIP19 {
    /// The human-readable prefixes.
    public enum Prefix {
        public static let publicKey = "npub"
        public static let secretKey = "nsec"
        public static let note = "note"
        public static let profile = "nprofile"
    }

    /// A decoded entity.
    public enum Entity: Sendable {
        case publicKey(PublicKey)
        case secretKey(SecretKey)
        case note(EventID)
        case profile(Profile)
    }

    /// An `nprofile`: a public key with relays where it may be found.
    public struct Profile: Sendable, Hashable {
        public var publicKey: PublicKey
        public var relays: [String]

        public init(publicKey: PublicKey, relays: [String] = []) {
            self.publicKey = publicKey
            self.relays = relays
        }
    }

    /// Decodes any of the supported entities.
    /// - Throws: ``NostrCryptoError/invalidBech32``, ``NostrCryptoError/unexpectedBech32Prefix`` for another entity type,
    ///   ``NostrCryptoError/invalidNIP19Payload``, or the key type's own error for an invalid key.
    public static func decode(_ string: String) throws -> Entity {
        var (prefix, payload) = try Bech32.decode(string)
        defer { SecureBytes.wipe(&payload) }
        switch prefix {
        case Prefix.publicKey:
            guard payload.count == 32 else { throw NostrCryptoError.invalidNIP19Payload }
            return .publicKey(try PublicKey(bytes: payload))
        case Prefix.secretKey:
            guard payload.count == 32 else { throw NostrCryptoError.invalidNIP19Payload }
            return .secretKey(try SecretKey(bytes: payload))
        case Prefix.note:
            guard let id = EventID(bytes: payload) else { throw NostrCryptoError.invalidNIP19Payload }
            return .note(id)
        case Prefix.profile:
            return .profile(try Self.decodeProfile(payload))
        default:
            throw NostrCryptoError.unexpectedBech32Prefix
        }
    }

    /// `nprofile1…` for `profile`.
    public static func encode(_ profile: Profile) -> String {
        var tlv: [UInt8] = [TLVType.special, 32] + profile.publicKey.bytes
        for relay in profile.relays {
            let bytes = Array(relay.utf8.prefix(255))
            tlv += [TLVType.relay, UInt8(bytes.count)] + bytes
        }
        return Bech32.encode(prefix: Prefix.profile, payload: tlv)
    }

    /// `note1…` for an event id.
    public static func encode(_ id: EventID) -> String {
        Bech32.encode(prefix: Prefix.note, payload: id.bytes)
    }

    private enum TLVType {
        static let special: UInt8 = 0
        static let relay: UInt8 = 1
    }

    private static func decodeProfile(_ payload: [UInt8]) throws -> Profile {
        var publicKey: PublicKey? = nil
        var relays: [String] = []
        var index = 0
        while index < payload.count {
            guard index + 2 <= payload.count else { throw NostrCryptoError.invalidNIP19Payload }
            let type = payload[index]
            let length = Int(payload[index + 1])
            let start = index + 2
            guard start + length <= payload.count else { throw NostrCryptoError.invalidNIP19Payload }
            let value = payload[start..<(start + length)]
            switch type {
            case TLVType.special:
                // The first special entry is the key; NIP-19 says to use the first of repeated ones.
                if publicKey == nil {
                    guard length == 32 else { throw NostrCryptoError.invalidNIP19Payload }
                    publicKey = try PublicKey(bytes: value)
                }
            case TLVType.relay:
                guard let relay = String(validating: value, as: UTF8.self) else { throw NostrCryptoError.invalidNIP19Payload }
                relays.append(relay)
            default:
                // Unknown types are ignored, as NIP-19 requires.
                break
            }
            index = start + length
        }
        guard let publicKey else { throw NostrCryptoError.invalidNIP19Payload }
        return Profile(publicKey: publicKey, relays: relays)
    }
}
