import Custody
import Foundation
import NostrCrypto

/// A fresh directory under the system temporary directory, removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init() {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("signer-tests-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { self.path + "/" + name }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

func memoryKEK() throws -> FileKeyEncryptionBackend {
    try FileKeyEncryptionBackend(keyBytes: SecureBytes(copying: SystemRandom.bytes(count: 32)))
}

func newID() -> String { UUID().uuidString.lowercased() }

func sha256(_ text: String) -> [UInt8] {
    var hasher = Crypto.SHA256()
    hasher.update(data: Array(text.utf8))
    return Array(hasher.finalize())
}

import Crypto
