import ArgumentParser
import Foundation
import NIOHTTP1
import NostrCrypto

/// What every operator command needs: where the server is, the admin token, and how to print.
struct OperatorOptions: ParsableArguments {
    @Option(help: "The signer's base URL (env SIGNER_SERVER, default http://127.0.0.1:8080).")
    var server: String?
    @Option(help: "The server's data directory, for its admin-token file (env SIGNER_DATA_DIR, default ./signer-data).")
    var dataDir: String?
    @Flag(help: "Print the server's JSON answer, for scripts.")
    var json = false

    func client(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AdminClient {
        var server = self.server ?? environment["SIGNER_SERVER"] ?? "http://127.0.0.1:8080"
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw CommandLineError("--server must be an http:// or https:// URL")
        }
        while server.hasSuffix("/") { server.removeLast() }
        let dataDirectory = self.dataDir ?? environment["SIGNER_DATA_DIR"] ?? "./signer-data"
        return AdminClient(server: server, token: try AdminClient.token(environment: environment, dataDirectory: dataDirectory))
    }

    /// Prints the JSON answer with `--json`, otherwise `human(answer)`.
    func print(_ answer: JSONValue?, human: (JSONValue?) -> String) {
        if self.json {
            if let answer { CommandLineIO.writeLine(answer.serialized()) }
        } else {
            CommandLineIO.write(human(answer))
        }
    }
}

// MARK: Keys

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and delete the keys the running server holds.",
        subcommands: [Create.self, List.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a key, or import one read from standard input.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "A label for people.") var label: String?
        @Flag(help: "Import the secret key (nsec1… or 64 hex) read from standard input instead of generating one.")
        var importStdin = false

        func run() async throws {
            var body: [String: JSONValue] = [:]
            if let label { body["label"] = .string(label) }
            if self.importStdin { body["nsec"] = .string(try CommandLineIO.readStandardInputToken()) }
            let answer = try await self.options.client().send(.POST, "/api/admin/keys", body: .object(body))
            self.options.print(answer) { answer in OperatorFormat.record(title: "created key", answer, fields: ["id", "pubkey", "npub", "label"]) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys.")
        @OptionGroup var options: OperatorOptions

        func run() async throws {
            let answer = try await self.options.client().send(.GET, "/api/admin/keys")
            self.options.print(answer) { answer in
                OperatorFormat.table(
                    ["ID", "NPUB", "LABEL", "CREATED"], answer?.objectValue?["keys"]?.arrayValue ?? [],
                    { [OperatorFormat.text($0["id"]), OperatorFormat.text($0["npub"]), OperatorFormat.text($0["label"]), OperatorFormat.time($0["created_at"])] }
                )
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key for good (its ciphertext is destroyed) and revoke its authorizations.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The key's id.") var id: String
        @Flag(help: "Confirm: the key cannot be recovered afterwards.") var yes = false

        func run() async throws {
            guard self.yes else { throw CommandLineError("deleting a key destroys it for good; pass --yes to confirm") }
            _ = try await self.options.client().send(.DELETE, "/api/admin/keys/\(OperatorFormat.pathComponent(self.id))")
            self.options.print(nil) { _ in "deleted key \(self.id)\n" }
        }
    }
}

// MARK: Authorizations

struct AuthorizationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorizations",
        abstract: "Create, list and revoke apps' authorizations.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Authorize an app to use a key: prints its bunker URL and HTTP access token, once."
        )
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The key's id.") var keyID: String
        @Option(help: "The app's name.") var name: String
        @Option(help: "A built-in policy name (see GET /api/policies) or a custom policy as a JSON object.") var policy: String
        @Option(help: "A relay of the authorization's own (repeatable; default: the server's relays).") var relay: [String] = []
        @Option(help: "Unix time after which the authorization stops working.") var expiresAt: Int64?
        @Option(help: "How many requests it may make in all.") var maxUses: Int64?

        func run() async throws {
            var body: [String: JSONValue] = ["name": .string(self.name)]
            if self.policy.hasPrefix("{") {
                guard let object = try? JSONValue.parse(Array(self.policy.utf8)) else { throw CommandLineError("--policy is not valid JSON") }
                body["policy"] = object
            } else {
                body["policy"] = .string(self.policy)
            }
            if !self.relay.isEmpty { body["relays"] = .array(self.relay.map { .string($0) }) }
            if let expiresAt { body["expires_at"] = .number(String(expiresAt)) }
            if let maxUses { body["max_uses"] = .number(String(maxUses)) }
            let path = "/api/admin/keys/\(OperatorFormat.pathComponent(self.keyID))/authorizations"
            let answer = try await self.options.client().send(.POST, path, body: .object(body))
            self.options.print(answer) { answer in
                let object = answer?.objectValue ?? [:]
                return OperatorFormat.record(title: "created authorization", answer, fields: ["id", "name", "key_id", "bunker_pubkey"])
                    + "\nbunker URL for the app (NIP-46; shown once):\n  \(OperatorFormat.text(object["bunker_url"]))\n"
                    + "access token for POST /api/nostr (shown once):\n  \(OperatorFormat.text(object["access_token"]))\n"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List authorizations, of one key or of all.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "Only this key's.") var keyID: String?

        func run() async throws {
            let query = self.keyID.map { "?key_id=\(OperatorFormat.pathComponent($0))" } ?? ""
            let answer = try await self.options.client().send(.GET, "/api/admin/authorizations" + query)
            self.options.print(answer) { answer in
                OperatorFormat.table(
                    ["ID", "NAME", "KEY", "POLICY", "USES", "STATE", "CREATED"], answer?.objectValue?["authorizations"]?.arrayValue ?? [],
                    { row in
                        [
                            OperatorFormat.text(row["id"]), OperatorFormat.text(row["name"]), OperatorFormat.text(row["key_id"]),
                            OperatorFormat.policyName(row["policy"]), OperatorFormat.text(row["uses"]), OperatorFormat.state(row),
                            OperatorFormat.time(row["created_at"]),
                        ]
                    }
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an authorization, effective on its next request on every path.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The authorization's id.") var id: String

        func run() async throws {
            _ = try await self.options.client().send(.DELETE, "/api/admin/authorizations/\(OperatorFormat.pathComponent(self.id))")
            self.options.print(nil) { _ in "revoked authorization \(self.id)\n" }
        }
    }
}

// MARK: Audit

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Show the audit trail, newest first.")
    @OptionGroup var options: OperatorOptions
    @Option(help: "Only this key's entries.") var keyID: String?
    @Option(help: "Only this authorization's entries.") var authorizationID: String?
    @Option(help: "At most this many entries (1–1000).") var limit: Int = 50

    func run() async throws {
        var query = ["limit=\(self.limit)"]
        if let keyID { query.append("key_id=\(OperatorFormat.pathComponent(keyID))") }
        if let authorizationID { query.append("authorization_id=\(OperatorFormat.pathComponent(authorizationID))") }
        let answer = try await self.options.client().send(.GET, "/api/admin/audit?" + query.joined(separator: "&"))
        self.options.print(answer) { answer in
            OperatorFormat.table(
                ["TIME", "PATH", "METHOD", "KIND", "OUTCOME", "AUTHORIZATION"], answer?.objectValue?["entries"]?.arrayValue ?? [],
                { row in
                    [
                        OperatorFormat.time(row["recorded_at"]), OperatorFormat.text(row["path"]), OperatorFormat.text(row["method"]),
                        OperatorFormat.text(row["kind"]), OperatorFormat.text(row["outcome"]), OperatorFormat.text(row["authorization_id"]),
                    ]
                }
            )
        }
    }
}

// MARK: Formatting

/// How the operator commands print for people: aligned tables and `name  value` records.
enum OperatorFormat {
    static func text(_ value: JSONValue?) -> String {
        guard let value else { return "-" }
        switch value {
        case .string(let text): return text
        case .number(let number): return number
        case .bool(let flag): return flag ? "yes" : "no"
        case .null: return "-"
        default: return value.serialized()
        }
    }

    /// Unix seconds as `2026-11-23 14:05:09Z`.
    static func time(_ value: JSONValue?) -> String {
        guard let seconds = value?.integerValue else { return self.text(value) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime, .withTimeZone]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    static func policyName(_ value: JSONValue?) -> String {
        if let name = value?.stringValue { return name }
        return value?.objectValue?["name"]?.stringValue ?? "custom"
    }

    static func state(_ authorization: [String: JSONValue]) -> String {
        if authorization["revoked_at"]?.integerValue != nil { return "revoked" }
        if let expiresAt = authorization["expires_at"]?.integerValue, expiresAt <= Int64(Date().timeIntervalSince1970) { return "expired" }
        if let maxUses = authorization["max_uses"]?.integerValue, let uses = authorization["uses"]?.integerValue, uses >= maxUses { return "used up" }
        return "active"
    }

    /// An id as one URL path segment (ids are the server's own, but a typo must not change the route).
    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? text
    }

    static func record(title: String, _ answer: JSONValue?, fields: [String]) -> String {
        let object = answer?.objectValue ?? [:]
        let width = fields.map(\.count).max() ?? 0
        var lines = ["\(title) \(self.text(object["id"]))"]
        for field in fields where field != "id" {
            lines.append("  " + field.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + self.text(object[field]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func table(_ headers: [String], _ rows: [JSONValue], _ columns: ([String: JSONValue]) -> [String]) -> String {
        let cells = rows.map { columns($0.objectValue ?? [:]) }
        guard !cells.isEmpty else { return "(none)\n" }
        let widths = headers.indices.map { column in ([headers[column]] + cells.map { $0[column] }).map(\.count).max() ?? 0 }
        func line(_ values: [String]) -> String {
            values.enumerated().map { index, value in
                index == values.count - 1 ? value : value.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + cells.map(line)).joined(separator: "\n") + "\n"
    }
}
