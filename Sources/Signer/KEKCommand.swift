import ArgumentParser
import Custody

/// `signer kek …`: key-encryption-key maintenance.
struct KEKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kek",
        abstract: "Key-encryption-key maintenance.",
        subcommands: [Rotate.self]
    )

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-wrap every data key under the configured KEK. Online, resumable and idempotent: run it again to finish an interrupted rotation.",
            discussion: """
                The configured KEK (SIGNER_KMS with SIGNER_KEK_PATH or SIGNER_KMS_KEY_ID) is the target; --from-kek-path \
                or --from-kms-key-id names the KEK the keys are wrapped under now. Any direction works: file to file, \
                file to aws-kms, aws-kms to file, one KMS key to another. A target KEK file that does not exist yet is \
                created (mode 0600). Keep the old KEK until this command reports that nothing is left to re-wrap.
                """
        )

        @OptionGroup var custody: CustodyOptions

        @Option(help: "The KEK file the data keys are currently wrapped under.")
        var fromKEKPath: String?

        @Option(help: "The AWS KMS key (id, ARN or alias) the data keys are currently wrapped under.")
        var fromKMSKeyID: String?

        @Option(help: "Rows per batch.")
        var batchSize = 100

        func validate() throws {
            guard self.batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
            guard (self.fromKEKPath == nil) != (self.fromKMSKeyID == nil) else {
                throw ValidationError("name the current KEK with exactly one of --from-kek-path and --from-kms-key-id")
            }
        }

        func run() async throws {
            let targetKind = try self.custody.resolvedKMS
            try await self.custody.withStore { store in
                try await store.migrate()
                let source: any KeyEncryptionBackend
                if let path = self.fromKEKPath {
                    source = try FileKeyEncryptionBackend.open(path: path)
                } else {
                    source = try self.custody.awsKMSBackend(keyID: self.fromKMSKeyID)
                }
                let target = try await self.target(kind: targetKind)
                let sameKEK = target.kind == source.kind && target.keyID == source.keyID
                let ring = KEKRing(current: target, previous: sameKEK ? [] : [source])
                try await KEKCanary.verifyOrInitialize(keks: ring, store: store)
                CommandLineIO.writeLine("re-wrapping data keys from \(Self.name(source)) to \(Self.name(target))")
                let progress = try await KEKRotation(store: store, keks: ring, batchSize: self.batchSize).run { progress in
                    CommandLineIO.writeLine("  \(progress)")
                }
                CommandLineIO.writeLine("done: \(progress)")
            }
        }

        private func target(kind: KEKBackendKind) async throws -> any KeyEncryptionBackend {
            switch kind {
            case .file:
                let path = self.custody.resolvedKEKPath
                do {
                    return try FileKeyEncryptionBackend.open(path: path)
                } catch let error as CustodyError where error.code == .kekFileMissing {
                    let created = try FileKeyEncryptionBackend.create(path: path)
                    CommandLineIO.writeLine("created KEK file \(path)")
                    return created
                }
            case .awsKMS:
                let backend = try self.custody.awsKMSBackend(keyID: self.custody.kmsKeyID)
                try await backend.checkHealth()
                return backend
            }
        }

        /// File key ids already read `file:<fingerprint>`; KMS key ids get their backend's name in front.
        private static func name(_ kek: any KeyEncryptionBackend) -> String {
            kek.kind == .file ? kek.keyID : "\(kek.kind.name):\(kek.keyID)"
        }
    }
}
