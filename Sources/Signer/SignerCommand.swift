import ArgumentParser

@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signer",
        abstract: "Nostr Signer: a key-custody signer daemon for Nostr.",
        subcommands: [CryptoCommand.self, BenchCommand.self]
    )
}
