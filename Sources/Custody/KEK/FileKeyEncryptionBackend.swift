import Crypto
import NostrCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded default KEK: 32 random bytes in a local file readable only by its owner.
///
/// Data keys are wrapped with AES-256-GCM under the KEK, with the ``WrapContext`` as associated data; the wrapped
/// form is `nonce (12) ‖ ciphertext (32) ‖ tag (16)`. The key id is a fingerprint of the KEK, so a blob names which
/// file key wrapped it without revealing anything about it.
public struct FileKeyEncryptionBackend: KeyEncryptionBackend {
    public let kind = KEKBackendKind.file
    public let keyID: String
    public let path: String
    private let key: SymmetricKey

    static let keyByteCount = 32

    /// Wraps key bytes held in memory (tests, rotation tools). The file-based constructors are ``open(path:)`` and
    /// ``create(path:)``.
    public init(keyBytes: SecureBytes, path: String = "<memory>") throws {
        guard keyBytes.count == Self.keyByteCount else {
            throw CustodyError(.kekFileInvalid, "KEK must be \(Self.keyByteCount) bytes")
        }
        self.key = keyBytes.withUnsafeBytes { SymmetricKey(data: $0) }
        self.keyID = keyBytes.withUnsafeBytes { Self.fingerprint(of: $0) }
        self.path = path
    }

    /// `file:` and the first 16 hex digits of SHA-256 over a fixed label and the key.
    static func fingerprint(of key: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("nostr-signer/kek-id/v1".utf8))
        hasher.update(bufferPointer: key)
        return "file:" + Hex.encode(hasher.finalize().prefix(8))
    }

    /// Opens an existing KEK file.
    /// - Throws: ``CustodyError/Code/kekFileMissing`` if it does not exist, ``CustodyError/Code/kekFileUnsafe`` if its
    ///   mode lets group or others read or write it, ``CustodyError/Code/kekFileInvalid`` if it is not 32 bytes.
    public static func open(path: String) throws -> FileKeyEncryptionBackend {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT {
                throw CustodyError(.kekFileMissing, "KEK file \(path) does not exist")
            }
            throw CustodyError(.kekFileInvalid, "cannot open KEK file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw CustodyError(.kekFileInvalid, "cannot stat KEK file \(path)")
        }
        let permissions = status.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw CustodyError(
                .kekFileUnsafe,
                "KEK file \(path) is accessible to other users (mode \(String(permissions, radix: 8))); run chmod 600 \(path)"
            )
        }
        guard status.st_size == off_t(Self.keyByteCount) else {
            throw CustodyError(.kekFileInvalid, "KEK file \(path) must hold exactly \(Self.keyByteCount) bytes")
        }
        let secret = try SecureBytes(count: Self.keyByteCount) { buffer in
            var filled = 0
            while filled < Self.keyByteCount {
                let count = read(descriptor, buffer.baseAddress! + filled, Self.keyByteCount - filled)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw CustodyError(.kekFileInvalid, "cannot read KEK file \(path)") }
                filled += count
            }
        }
        return try FileKeyEncryptionBackend(keyBytes: secret, path: path)
    }

    /// Creates a new KEK file with mode 0600 from the CSPRNG. Fails if the file already exists, so a key is never
    /// overwritten.
    public static func create(path: String) throws -> FileKeyEncryptionBackend {
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CustodyError(.kekFileInvalid, "cannot create KEK file \(path): \(String(cString: strerror(errno)))")
        }
        var material = SystemRandom.bytes(count: Self.keyByteCount)
        defer { SecureBytes.wipe(&material) }
        let written = material.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == Self.keyByteCount, synced == 0 else {
            unlink(path)
            throw CustodyError(.kekFileInvalid, "cannot write KEK file \(path)")
        }
        return try FileKeyEncryptionBackend(keyBytes: SecureBytes(copying: material), path: path)
    }

    public func generateDataKey(context: WrapContext) async throws -> GeneratedDataKey {
        let dataKey = SecureBytes(copying: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        return GeneratedDataKey(plaintext: dataKey, wrapped: try await self.wrap(dataKey: dataKey, context: context))
    }

    public func wrap(dataKey: SecureBytes, context: WrapContext) async throws -> [UInt8] {
        let sealed = try dataKey.withUnsafeBytes { bytes in
            try AES.GCM.seal(bytes, using: self.key, authenticating: context.associatedData)
        }
        return Array(sealed.combined!)
    }

    public func unwrap(wrappedDataKey: [UInt8], keyID: String, context: WrapContext) async throws -> SecureBytes {
        guard keyID == self.keyID else {
            throw CustodyError(.unknownKEK, "data key was wrapped by KEK \(keyID), not the configured \(self.keyID)")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: wrappedDataKey)
            var opened = Array(try AES.GCM.open(box, using: self.key, authenticating: context.associatedData))
            defer { SecureBytes.wipe(&opened) }
            guard opened.count == Self.keyByteCount else {
                throw CustodyError(.secretDoesNotOpen, "data key does not open under the configured KEK")
            }
            return SecureBytes(copying: opened)
        } catch let error as CustodyError {
            throw error
        } catch {
            throw CustodyError(.secretDoesNotOpen, "data key does not open under the configured KEK")
        }
    }

    public func checkHealth() async throws {}
}
