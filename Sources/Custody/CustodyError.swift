/// An error from Custody. Its text says what failed in words an operator can act on; it never contains key
/// material, data keys, secrets, tokens or plaintext.
public struct CustodyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable category, for callers that map errors to protocol codes and statuses.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case corruptedSecret = "corrupted_secret"
            case unsupportedFormatVersion = "unsupported_format_version"
            case unknownKEK = "unknown_kek"
            case secretDoesNotOpen = "secret_does_not_open"
            case kekMismatch = "kek_mismatch"
            case kekFileUnsafe = "kek_file_unsafe"
            case kekFileMissing = "kek_file_missing"
            case kekFileInvalid = "kek_file_invalid"
            case kekUnavailable = "kek_unavailable"
            case storeUnavailable = "store_unavailable"
            case migrationFailed = "migration_failed"
            case notFound = "not_found"
            case conflict = "conflict"
            case invalidInput = "invalid_input"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A stored secret blob that is truncated or malformed.
        public static let corruptedSecret = Self(.corruptedSecret)
        /// A stored secret blob written in a format version this build does not know.
        public static let unsupportedFormatVersion = Self(.unsupportedFormatVersion)
        /// A blob wrapped by a KEK backend or key id that is not configured.
        public static let unknownKEK = Self(.unknownKEK)
        /// AES-GCM refused to open a secret or a data key: wrong KEK, tampered blob, or a blob moved to another row.
        public static let secretDoesNotOpen = Self(.secretDoesNotOpen)
        /// The configured KEK is not the one the stored keys were sealed under.
        public static let kekMismatch = Self(.kekMismatch)
        /// The KEK file can be read by users other than its owner.
        public static let kekFileUnsafe = Self(.kekFileUnsafe)
        /// The KEK file is missing although sealed keys exist.
        public static let kekFileMissing = Self(.kekFileMissing)
        /// The KEK file exists but is not 32 bytes.
        public static let kekFileInvalid = Self(.kekFileInvalid)
        /// The KEK backend (a KMS) could not be reached or refused the request.
        public static let kekUnavailable = Self(.kekUnavailable)
        /// The database could not be reached or failed a query.
        public static let storeUnavailable = Self(.storeUnavailable)
        /// A migration could not be applied.
        public static let migrationFailed = Self(.migrationFailed)
        /// The key or authorization does not exist (or no longer does).
        public static let notFound = Self(.notFound)
        /// The change conflicts with the current state (for example a client already pinned).
        public static let conflict = Self(.conflict)
        /// A request that is malformed.
        public static let invalidInput = Self(.invalidInput)

        public var description: String { self.base.rawValue }
    }

    public let code: Code
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
