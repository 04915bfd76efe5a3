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
                The configured KEK (SIGNER_KMS, SIGNER_KEK_PATH) is the target; --from-kek-path names the KEK the keys \
                are wrapped under now. A target KEK file that does not exist yet is created (mode 0600). Keep the old \
                KEK until this command reports that nothing is left to re-wrap.
                """
        )

        @OptionGroup var custody: CustodyOptions

        @Option(help: "The KEK file the data keys are currently wrapped under.")
        var fromKEKPath: String

        @Option(help: "Rows per batch.")
        var batchSize = 100

        func validate() throws {
            guard self.batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        }

        func run() async throws {
            _ = try self.custody.resolvedKMS
            try await self.custody.withStore { store in
                try await store.migrate()
                let source = try FileKeyEncryptionBackend.open(path: self.fromKEKPath)
                let targetPath = self.custody.resolvedKEKPath
                let target: FileKeyEncryptionBackend
                do {
                    target = try FileKeyEncryptionBackend.open(path: targetPath)
                } catch let error as CustodyError where error.code == .kekFileMissing {
                    target = try FileKeyEncryptionBackend.create(path: targetPath)
                    CommandLineIO.writeLine("created KEK file \(targetPath)")
                }
                let ring = KEKRing(current: target, previous: target.keyID == source.keyID ? [] : [source])
                try await KEKCanary.verifyOrInitialize(keks: ring, store: store)
                CommandLineIO.writeLine("re-wrapping data keys from \(source.keyID) to \(target.keyID)")
                let progress = try await KEKRotation(store: store, keks: ring, batchSize: self.batchSize).run { progress in
                    CommandLineIO.writeLine("  \(progress)")
                }
                CommandLineIO.writeLine("done: \(progress)")
            }
        }
    }
}
