import ArgumentParser
import NostrCrypto

/// `signer crypto …`: developer tools over NostrCrypto, also what the interop tier drives.
struct CryptoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Key, event, NIP-44 and NIP-04 tools. Secrets are read from stdin, --secret-file or SIGNER_SECRET, never from arguments.",
        subcommands: [
            Keygen.self, Pubkey.self, Npub.self, Nsec.self, HexCommand.self, Sign.self, Verify.self, NIP44Command.self,
            NIP04Command.self,
        ]
    )

    struct SecretOptions: ParsableArguments {
        @Option(name: .customLong("secret-file"), help: "File holding the secret key (hex or nsec). Default: $SIGNER_SECRET.")
        var secretFile: String?
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a key pair from the system CSPRNG.")

        @Flag(help: "Print a JSON object instead of labelled lines.")
        var json = false

        func run() throws {
            let key = SecretKey.generate()
            if self.json {
                let object: JSONValue = .object([
                    "secret_key": .string(key.exportHex()),
                    "nsec": .string(key.exportNsec()),
                    "public_key": .string(key.publicKey.hex),
                    "npub": .string(key.publicKey.npub),
                ])
                CommandLineIO.writeLine(object.serialized())
            } else {
                CommandLineIO.writeLine("secret_key \(key.exportHex())")
                CommandLineIO.writeLine("nsec       \(key.exportNsec())")
                CommandLineIO.writeLine("public_key \(key.publicKey.hex)")
                CommandLineIO.writeLine("npub       \(key.publicKey.npub)")
            }
        }
    }

    struct Pubkey: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the public key of a secret key read from stdin (hex or nsec).")

        @Flag(help: "Print npub1… instead of hex.")
        var npub = false

        func run() throws {
            let key = try CommandLineIO.parseSecretKey(try CommandLineIO.readStandardInputToken())
            CommandLineIO.writeLine(self.npub ? key.publicKey.npub : key.publicKey.hex)
        }
    }

    struct Npub: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert a hex public key to npub1….")

        @Argument(help: "The public key, 64 hex digits.")
        var publicKey: String

        func run() throws {
            CommandLineIO.writeLine(try CommandLineIO.parsePublicKey(self.publicKey, name: "public key").npub)
        }
    }

    struct Nsec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert a hex secret key read from stdin to nsec1….")

        func run() throws {
            let key = try CommandLineIO.parseSecretKey(try CommandLineIO.readStandardInputToken())
            CommandLineIO.writeLine(key.exportNsec())
        }
    }

    struct HexCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hex",
            abstract: "Decode npub1…, note1… or nprofile1… (argument or stdin), or nsec1… (stdin only), to hex."
        )

        @Argument(help: "The NIP-19 string. Omit it to read from stdin, which is required for nsec1….")
        var entity: String?

        func run() throws {
            let text: String
            if let entity = self.entity {
                guard !entity.lowercased().hasPrefix("nsec1") else {
                    throw CommandLineError("secret keys are not accepted as arguments; pipe the nsec on stdin")
                }
                text = entity
            } else {
                text = try CommandLineIO.readStandardInputToken()
            }
            let decoded: NIP19.Entity
            do {
                decoded = try NIP19.decode(text)
            } catch {
                throw CommandLineError("cannot decode NIP-19 string: \(error)")
            }
            switch decoded {
            case .publicKey(let key): CommandLineIO.writeLine(key.hex)
            case .secretKey(let key): CommandLineIO.writeLine(key.exportHex())
            case .note(let id): CommandLineIO.writeLine(id.hex)
            case .profile(let profile): CommandLineIO.writeLine(profile.publicKey.hex)
            }
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an unsigned event (JSON on stdin); print the signed event JSON."
        )

        @OptionGroup var secret: SecretOptions

        func run() throws {
            let key = try CommandLineIO.loadSecretKey(secretFile: self.secret.secretFile)
            let input = try CommandLineIO.readStandardInput()
            do {
                let event = try UnsignedEvent(json: input).signed(with: key)
                CommandLineIO.writeLine(event.jsonString())
            } catch let error as EventError {
                throw CommandLineError("invalid event: \(error)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a signed event (JSON on stdin): prints its id and exits 0 if valid, or one error line and exits 1."
        )

        func run() throws {
            let input = try CommandLineIO.readStandardInput()
            do {
                let event = try Event(json: input)
                try event.verify()
                CommandLineIO.writeLine("valid \(event.id.hex)")
            } catch let error as EventError {
                throw CommandLineError("invalid event: \(error)")
            }
        }
    }

    struct PeerOptions: ParsableArguments {
        @Option(help: "The other party's public key (hex or npub).")
        var peer: String
    }

    /// What the four cipher commands share: load the key pair, read stdin, run one operation, map its error.
    enum CipherDirection {
        /// Plaintext in byte for byte; the payload out on one line.
        case encrypt
        /// A payload in (surrounding whitespace ignored); the plaintext out exactly, with no added newline.
        case decrypt

        func run(
            secret: SecretOptions,
            peer: PeerOptions,
            _ operation: (_ input: String, _ key: SecretKey, _ peer: PublicKey) throws -> String
        ) throws {
            let key = try CommandLineIO.loadSecretKey(secretFile: secret.secretFile)
            let peerKey = try CommandLineIO.parsePublicKey(peer.peer, name: "--peer")
            let input = self == .encrypt ? try CommandLineIO.readStandardInputText() : try CommandLineIO.readStandardInputToken()
            let output: String
            do {
                output = try operation(input, key, peerKey)
            } catch let error as NostrCryptoError {
                throw CommandLineError("cannot \(self == .encrypt ? "encrypt" : "decrypt"): \(error)")
            }
            if self == .encrypt {
                CommandLineIO.writeLine(output)
            } else {
                CommandLineIO.write(output)
            }
        }
    }

    struct NIP44Command: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nip44",
            abstract: "NIP-44 v2 encryption between your secret key and --peer.",
            subcommands: [Encrypt.self, Decrypt.self]
        )

        struct Encrypt: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Encrypt stdin (taken byte for byte); print the payload.")
            @OptionGroup var secret: SecretOptions
            @OptionGroup var peer: PeerOptions

            func run() throws {
                try CipherDirection.encrypt.run(secret: self.secret, peer: self.peer) { plaintext, key, peer in
                    try NIP44.encrypt(plaintext, conversationKey: NIP44ConversationKey(secretKey: key, publicKey: peer))
                }
            }
        }

        struct Decrypt: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Decrypt a payload on stdin; print the plaintext exactly.")
            @OptionGroup var secret: SecretOptions
            @OptionGroup var peer: PeerOptions

            func run() throws {
                try CipherDirection.decrypt.run(secret: self.secret, peer: self.peer) { payload, key, peer in
                    try NIP44.decrypt(payload, conversationKey: NIP44ConversationKey(secretKey: key, publicKey: peer))
                }
            }
        }
    }

    struct NIP04Command: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nip04",
            abstract: "NIP-04 (deprecated) encryption between your secret key and --peer.",
            subcommands: [Encrypt.self, Decrypt.self]
        )

        struct Encrypt: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Encrypt stdin (taken byte for byte); print base64?iv=base64.")
            @OptionGroup var secret: SecretOptions
            @OptionGroup var peer: PeerOptions

            func run() throws {
                try CipherDirection.encrypt.run(secret: self.secret, peer: self.peer) { plaintext, key, peer in
                    try NIP04.encrypt(plaintext, secretKey: key, publicKey: peer)
                }
            }
        }

        struct Decrypt: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Decrypt a payload on stdin; print the plaintext exactly.")
            @OptionGroup var secret: SecretOptions
            @OptionGroup var peer: PeerOptions

            func run() throws {
                try CipherDirection.decrypt.run(secret: self.secret, peer: self.peer) { payload, key, peer in
                    try NIP04.decrypt(payload, secretKey: key, publicKey: peer)
                }
            }
        }
    }
}
