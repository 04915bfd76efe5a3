import ArgumentParser
import Custody

/// `signer migrate`: applies pending schema migrations and initialises the KEK (file and canary) on first use.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations and check the KEK against the stored keys."
    )

    @OptionGroup var custody: CustodyOptions

    func run() async throws {
        _ = try self.custody.resolvedKMS
        try await self.custody.withStore { store in
            let applied = try await store.migrate()
            _ = try await self.custody.openKEK(store: store)
            let versions = try await store.appliedMigrations()
            if applied.isEmpty {
                CommandLineIO.writeLine("schema is up to date (version \(versions.last ?? 0))")
            } else {
                CommandLineIO.writeLine("applied \(applied.count) migration(s); schema is at version \(versions.last ?? 0)")
            }
        }
    }
}
