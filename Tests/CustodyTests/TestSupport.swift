import Custody
import Foundation
import NostrCrypto


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
