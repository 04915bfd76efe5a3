import Foundation
import NostrCrypto

/// One line of explanation for a command that cannot proceed. ArgumentParser prints it as `Error: <text>` and
/// exits non-zero. The text never contains secret input.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

enum CommandLineIO {
    /// Input on stdin is bounded so a mistaken pipe cannot exhaust memory.
    static let maximumStandardInputBytes = 16 * 1024 * 1024

    /// All of standard input, byte for byte.
    static func readStandardInput() throws -> [UInt8] {
        var data = Data()
        while true {
            let chunk = FileHandle.standardInput.readData(ofLength: 64 * 1024)
            if chunk.isEmpty { break }
            data.append(chunk)
            guard data.count <= Self.maximumStandardInputBytes else {
                throw CommandLineError("standard input exceeds \(Self.maximumStandardInputBytes) bytes")
            }
        }
        return Array(data)
    }

    /// Standard input as UTF-8 text, exactly as given.
    static func readStandardInputText() throws -> String {
        let bytes = try self.readStandardInput()
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CommandLineError("standard input is not valid UTF-8")
        }
        return text
    }

    /// Standard input with surrounding whitespace removed (for keys, payloads and other tokens).
    static func readStandardInputToken() throws -> String {
        try self.readStandardInputText().trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func writeLine(_ text: String) {
        self.write(text + "\n")
    }

    /// Parses a secret key given as 64 hex digits or an `nsec1…` string.
    static func parseSecretKey(_ text: String) throws -> SecretKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            if trimmed.lowercased().hasPrefix("nsec1") {
                return try SecretKey(nsec: trimmed)
            }
            return try SecretKey(hex: trimmed)
        } catch {
            throw CommandLineError("invalid secret key: expected 64 hex digits or nsec1…")
        }
    }

    /// Parses a public key given as 64 hex digits or an `npub1…` string.
    static func parsePublicKey(_ text: String, name: String) throws -> PublicKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            if trimmed.lowercased().hasPrefix("npub1") {
                return try PublicKey(npub: trimmed)
            }
            return try PublicKey(hex: trimmed)
        } catch {
            throw CommandLineError("invalid \(name): expected 64 hex digits or npub1… of a secp256k1 x coordinate")
        }
    }

    /// The secret key from `--secret-file`, else from the `SIGNER_SECRET` environment variable. Secrets are never
    /// taken from the command line, where other users can read them in the process list.
    static func loadSecretKey(secretFile: String?) throws -> SecretKey {
        if let secretFile {
            guard let data = FileManager.default.contents(atPath: secretFile) else {
                throw CommandLineError("cannot read secret file \(secretFile)")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw CommandLineError("secret file \(secretFile) is not UTF-8 text")
            }
            return try self.parseSecretKey(text)
        }
        if let text = ProcessInfo.processInfo.environment["SIGNER_SECRET"] {
            return try self.parseSecretKey(text)
        }
        throw CommandLineError("no secret key: pass --secret-file <path> or set SIGNER_SECRET")
    }
}
