import Foundation

/// A row id held in 17 inline bytes instead of a heap string. Custody creates ids as lowercase UUIDs, which are
/// kept as their 16 bytes; any other text (a row written by another tool) is kept as it is, so the id always reads
/// back exactly as stored.
public struct CompactID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    private enum Storage: Hashable, Sendable {
        case uuid(UUID)
        case text(String)
    }

    private let storage: Storage

    public init(_ text: String) {
        if text.utf8.count == 36, let uuid = UUID(uuidString: text), uuid.uuidString.lowercased() == text {
            self.storage = .uuid(uuid)
        } else {
            self.storage = .text(text)
        }
    }

    public init(stringLiteral text: String) { self.init(text) }

    /// The id as stored.
    public var description: String {
        switch self.storage {
        case .uuid(let uuid): uuid.uuidString.lowercased()
        case .text(let text): text
        }
    }
}
