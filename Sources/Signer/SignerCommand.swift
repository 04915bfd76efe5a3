import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signer",
        abstract: "Nostr Signer: a key-custody signer daemon for Nostr.",
        subcommands: [CryptoCommand.self, MigrateCommand.self, KEKCommand.self, BenchCommand.self]
    )

    static func main() async {
        // Everything the signer creates (database, KEK file, data directory) is for its own user only.
        umask(0o077)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
