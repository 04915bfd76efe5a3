import Foundation
import Testing
import TestSupport

@testable import Custody

#if canImport(Glibc)
import Glibc
#endif

/// The moto KMS mock `make test` starts (`tools/test-services.sh`), and private ones for tests that stop them.
enum KMSTestServer {
    static var endpoint: String? { ProcessInfo.processInfo.environment["SIGNER_TEST_KMS_ENDPOINT"] }
    static let credentials = AWSCredentials(accessKeyID: "AKIDTESTS", secretAccessKey: "test-secret-access-key")

    static func configuration(endpoint: String, keyID: String) -> AWSKMSConfiguration {
        AWSKMSConfiguration(keyID: keyID, region: "us-east-1", endpoint: endpoint, credentials: Self.credentials)
    }

    /// A new symmetric key on the mock; returns its key id.
    static func createKey(endpoint: String) async throws -> String {
        let client = try AWSKMSClient(configuration: Self.configuration(endpoint: endpoint, keyID: "-"))
        let created = try await client.send("CreateKey", CreateKeyRequest(description: "nostr-signer tests"), as: DescribeKeyResponse.self)
        return created.keyMetadata.keyId
    }

    static func send(endpoint: String, _ operation: String, keyID: String, _ request: some Encodable & Sendable) async throws {
        let client = try AWSKMSClient(configuration: Self.configuration(endpoint: endpoint, keyID: keyID))
        _ = try await client.send(operation, request, as: EmptyResponse.self)
    }

    struct CreateKeyRequest: Encodable, Sendable {
        let description: String
        enum CodingKeys: String, CodingKey { case description = "Description" }
    }

    struct KeyIDRequest: Encodable, Sendable {
        let keyId: String
        enum CodingKeys: String, CodingKey { case keyId = "KeyId" }
    }

    struct CreateAliasRequest: Encodable, Sendable {
        let aliasName: String
        let targetKeyId: String
        enum CodingKeys: String, CodingKey { case aliasName = "AliasName", targetKeyId = "TargetKeyId" }
    }

    struct EmptyResponse: Decodable, Sendable {}
}

/// A moto_server of a test's own, on a free port, that the test can pause (SIGSTOP: connections are accepted and
/// never answered), resume, or kill.
final class PrivateKMSServer: Sendable {
    let port: Int
    let pid: pid_t
    var endpoint: String { "http://127.0.0.1:\(self.port)" }

    init?() async throws {
        guard let moto = ProcessInfo.processInfo.environment["SIGNER_TEST_MOTO_SERVER"] else { return nil }
        self.port = try freeLoopbackPort()
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [moto, "-H", "127.0.0.1", "-p", String(self.port)]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawn(&pid, moto, &actions, nil, argv, environ)
        guard spawned == 0 else { throw CustodyError(.kekUnavailable, "cannot start moto_server: errno \(spawned)") }
        self.pid = pid
        for _ in 0..<100 {
            if canConnect(port: self.port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        self.kill()
        throw CustodyError(.kekUnavailable, "moto_server did not start on port \(self.port)")
    }

    func pause() { Glibc.kill(self.pid, SIGSTOP) }
    func resume() { Glibc.kill(self.pid, SIGCONT) }

    func kill() {
        Glibc.kill(self.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(self.pid, &status, 0)
    }
}


