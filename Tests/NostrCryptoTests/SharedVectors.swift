import Foundation
import NostrCrypto

/// The official vectors kept in `../shared/vectors` beside the repository (or `$SIGNER_VECTORS_DIR`).
/// Tests that need them are disabled, with this message, when the folder is absent.
enum SharedVectors {
    static let directory: URL = {
        if let override = ProcessInfo.processInfo.environment["SIGNER_VECTORS_DIR"] {
            return URL(fileURLWithPath: override)
        }
        // Tests/NostrCryptoTests/SharedVectors.swift → repository root → ../shared/vectors
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }()

    static let skipMessage = "official vectors not found at ../shared/vectors (set SIGNER_VECTORS_DIR)"

    static func url(_ name: String) -> URL { self.directory.appendingPathComponent(name) }

    static func isAvailable(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: self.url(name).path)
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: self.url(name))
    }
}

func bytes(_ hex: String) -> [UInt8] {
    guard let value = Hex.decode(hex) else { fatalError("bad hex in test: \(hex)") }
    return value
}
