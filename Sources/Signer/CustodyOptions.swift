import ArgumentParser
import Custody
import Foundation
import Logging

/// Where custody state lives, for the commands that open it directly (`signer migrate`, `signer kek rotate`).
/// Each option falls back to its `SIGNER_*` environment variable, then to the embedded default.
///
/// Keys: `SIGNER_DATA_DIR` (default `./signer-data`), `SIGNER_DATABASE_URL` (default: `<data dir>/signer.sqlite`;
/// `postgres://…` or `postgresql://…` for PostgreSQL), `SIGNER_KMS` (`file`, the default, or `aws-kms`),
/// `SIGNER_KEK_PATH` (file backend; default `<data dir>/kek`), `SIGNER_KMS_KEY_ID` and `SIGNER_KMS_ENDPOINT` (aws-kms;
/// region and credentials from the standard `AWS_*` variables).
struct CustodyOptions: ParsableArguments {
    @Option(help: "Data directory (env SIGNER_DATA_DIR, default ./signer-data).")
    var dataDir: String?

    @Option(help: "Database: postgres://user:password@host:port/db, a SQLite file path or sqlite:PATH (env SIGNER_DATABASE_URL, default <data dir>/signer.sqlite).")
    var databaseURL: String?

    @Option(help: "KEK backend: file or aws-kms (env SIGNER_KMS, default file).")
    var kms: String?

    @Option(help: "KEK file for the file backend (env SIGNER_KEK_PATH, default <data dir>/kek).")
    var kekPath: String?

    @Option(help: "AWS KMS key id, ARN or alias for the aws-kms backend (env SIGNER_KMS_KEY_ID).")
    var kmsKeyID: String?

    @Option(help: "AWS KMS endpoint (env SIGNER_KMS_ENDPOINT, default https://kms.<AWS_REGION>.amazonaws.com).")
    var kmsEndpoint: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedDataDirectory: String { self.dataDir ?? self.environment["SIGNER_DATA_DIR"] ?? "./signer-data" }
    var resolvedKEKPath: String { self.kekPath ?? self.environment["SIGNER_KEK_PATH"] ?? self.resolvedDataDirectory + "/kek" }

    var resolvedKMS: KEKBackendKind {
        get throws {
            let name = self.kms ?? self.environment["SIGNER_KMS"] ?? "file"
            guard let kind = KEKBackendKind.allCases.first(where: { $0.name == name }) else {
                throw CommandLineError("SIGNER_KMS: unknown KEK backend \"\(name)\" (expected file or aws-kms)")
            }
            return kind
        }
    }

    /// Opens the store, creating the data directory (mode 0700) when the default SQLite location is used. For
    /// `bulkLoading`, SQLite gets a 256 MiB page cache.
    private func openStore(bulkLoading: Bool) async throws -> any CustodyStore {
        let url = self.databaseURL ?? self.environment["SIGNER_DATABASE_URL"]
        if let url, url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            // One-shot commands answer with one line, and their errors carry the diagnosis; the pool's own warnings
            // (such as a query leasing a connection a moment before the pool's run loop has started, which only
            // waits) stay out of it unless SIGNER_LOG_LEVEL asks for them.
            var logger = Logger(label: "signer.custody.postgres")
            if self.environment["SIGNER_LOG_LEVEL"] == nil { logger.logLevel = .error }
            do {
                return try PostgresCustodyStore.connect(url: url, logger: logger)
            } catch let error as CustodyError {
                throw CommandLineError("SIGNER_DATABASE_URL: \(error.description)")
            }
        }
        let path: String
        if let url {
            path = url.hasPrefix("sqlite:") ? String(url.dropFirst("sqlite:".count)).replacingOccurrences(of: "//", with: "", options: .anchored) : url
        } else {
            try self.createDataDirectory()
            path = self.resolvedDataDirectory + "/signer.sqlite"
        }
        do {
            return try await SQLiteCustodyStore.open(path: path, pageCacheMebibytes: bulkLoading ? 256 : nil)
        } catch let error as CustodyError {
            throw CommandLineError(error.description)
        }
    }

    /// The configured KEK, checked against the store: the file backend creates its file on first use (never next to
    /// sealed keys); the aws-kms backend must pass its health check. Then the canary is verified, or sealed on first use.
    func openKEK(store: any CustodyStore) async throws -> any KeyEncryptionBackend {
        switch try self.resolvedKMS {
        case .file:
            return try await FileKeyEncryptionBackend.openOrCreate(path: self.resolvedKEKPath, store: store)
        case .awsKMS:
            let backend = try self.awsKMSBackend(keyID: self.kmsKeyID)
            try await backend.checkHealth()
            try await KEKCanary.verifyOrInitialize(keks: KEKRing(current: backend), store: store)
            return backend
        }
    }

    /// An aws-kms backend for `keyID` (or SIGNER_KMS_KEY_ID), with this command's endpoint and the AWS environment.
    func awsKMSBackend(keyID: String?) throws -> AWSKMSBackend {
        do {
            let configuration = try AWSKMSConfiguration.fromEnvironment(self.environment, keyID: keyID, endpoint: self.kmsEndpoint)
            return AWSKMSBackend(client: try AWSKMSClient(configuration: configuration))
        } catch let error as CustodyError {
            throw CommandLineError(error.description)
        }
    }

    /// Opens the store, runs `body`, and closes the store however `body` ends (a PostgreSQL pool must be shut down).
    /// `bulkLoading` is for `signer seed`.
    func withStore<Result>(bulkLoading: Bool = false, _ body: (any CustodyStore) async throws -> Result) async throws -> Result {
        if (try? self.resolvedKMS) == .file && self.kekPath == nil && self.environment["SIGNER_KEK_PATH"] == nil {
            try self.createDataDirectory()  // the file backend's KEK lives there by default
        }
        let store = try await self.openStore(bulkLoading: bulkLoading)
        let result: Result
        do {
            result = try await withCustodyErrors { try await body(store) }
        } catch {
            try? await store.close()
            throw error
        }
        try await withCustodyErrors { try await store.close() }
        return result
    }

    func createDataDirectory() throws {
        let directory = self.resolvedDataDirectory
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandLineError("SIGNER_DATA_DIR: \(directory) is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandLineError("SIGNER_DATA_DIR: cannot create \(directory)")
        }
    }
}

/// Runs a custody operation, turning its error into one command-line line.
func withCustodyErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
        return try await body()
    } catch let error as CustodyError {
        throw CommandLineError(error.description)
    }
}
