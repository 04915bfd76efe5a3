import ArgumentParser
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signer",
        abstract: "Nostr Signer: a key-custody signer daemon for Nostr.",
        subcommands: [
            ServeCommand.self, KeysCommand.self, AuthorizationsCommand.self, AuditCommand.self, ProbeCommand.self, CryptoCommand.self,
            MigrateCommand.self, KEKCommand.self, SeedCommand.self, BenchCommand.self,
        ]
    )

    static func main() async {
        // Everything the signer creates (database, KEK file, data directory) is for its own user only.
        umask(0o077)
        // The one-shot commands answer with one line; library chatter (a pool retrying a connection) stays below
        // `warning` unless SIGNER_LOG_LEVEL asks for it. Logs go to stderr so stdout stays machine-readable.
        let level = ProcessInfo.processInfo.environment["SIGNER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LogSettings.apply(format: .text, level: level)
        LoggingSystem.bootstrap(LogSettings.handler(label:))
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
