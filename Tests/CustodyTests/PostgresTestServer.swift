import Custody
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// The PostgreSQL server `make test` starts (`tools/test-services.sh`), and throwaway databases on it.
enum PostgresTestServer {
    static var url: String? { ProcessInfo.processInfo.environment["SIGNER_TEST_POSTGRES_URL"] }

    /// A new empty database on the test server; the returned function drops it.
    static func freshDatabase() async throws -> (url: String, drop: @Sendable () async -> Void) {
        guard let url = Self.url, let slash = url.lastIndex(of: "/") else {
            throw CustodyError(.invalidInput, "SIGNER_TEST_POSTGRES_URL is not set")
        }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await Self.administer(url: url, "CREATE DATABASE \(name)")
        let databaseURL = String(url[...slash]) + name + "?sslmode=disable"
        return (databaseURL, { try? await Self.administer(url: url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
    }

    /// Runs one statement (database names cannot be bound parameters) on the server's main database.
    static func administer(url: String, _ statement: String) async throws {
        guard let slash = url.lastIndex(of: "/") else { return }
        let base = String(url[..<slash])
        let components = base.dropFirst("postgres://".count).split(separator: "@")
        let credentials = components[0].split(separator: ":")
        let hostPort = components[1].split(separator: ":")
        let configuration = PostgresClient.Configuration(
            host: String(hostPort[0]), port: Int(hostPort[1]) ?? 5432, username: String(credentials[0]),
            password: credentials.count > 1 ? String(credentials[1]) : nil, database: String(url[url.index(after: slash)...]), tls: .disable
        )
        let client = PostgresClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: statement))
        }
    }
}

/// A private PostgreSQL server for tests that stop and start it, on its own port and directory.
struct PrivatePostgresServer {
    let port: Int
    let directory: TemporaryDirectory
    let script: String

    var url: String { "postgres://signer:signer@127.0.0.1:\(self.port)/signer?sslmode=disable" }

    init?() {
        guard let script = ProcessInfo.processInfo.environment["SIGNER_TEST_SERVICES_SCRIPT"] else { return nil }
        self.script = script
        self.port = Int.random(in: 20_000...29_999)
        self.directory = TemporaryDirectory()
        // The server runs as the postgres user when the tests run as root; it must reach its directory.
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: self.directory.path)
    }

    /// Starts the server, runs `body`, and stops the server and removes its files however `body` ends.
    func withRunning(_ body: () async throws -> Void) async throws {
        try await self.run("start")
        do {
            try await body()
        } catch {
            try? await self.run("stop")
            self.directory.cleanUp()
            throw error
        }
        try await self.run("stop")
        self.directory.cleanUp()
    }

    /// Runs `tools/test-services.sh <command>` for this server. Foundation's `Process.waitUntilExit` does not return
    /// here: the daemon that `pg_ctl` leaves behind inherits the descriptor Foundation watches for the exit. So the
    /// script is spawned directly and reaped with `waitpid` on a thread of its own, off the cooperative pool.
    func run(_ command: String) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["SIGNER_TEST_POSTGRES_PORT"] = String(self.port)
        environment["SIGNER_TEST_SERVICES_DIR"] = self.directory.path
        let status = try await spawnAndWait(["/bin/bash", self.script, command], environment: environment)
        guard status == 0 else {
            throw CustodyError(.storeUnavailable, "tools/test-services.sh \(command) exited with \(status)")
        }
    }
}

/// Spawns `arguments` with stdout on /dev/null and returns its exit status once it has exited.
func spawnAndWait(_ arguments: [String], environment: [String: String]) async throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    guard spawned == 0 else { throw CustodyError(.storeUnavailable, "cannot start \(arguments[0]): errno \(spawned)") }
    let child = pid
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            // WIFEXITED/WEXITSTATUS are macros Swift cannot import.
            let exited = status & 0x7f == 0
            continuation.resume(returning: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        }
    }
}

@Suite(.enabled(if: PostgresTestServer.url != nil, "needs SIGNER_TEST_POSTGRES_URL (make test starts PostgreSQL)"))
struct PostgresStoreTests {
    @Test func concurrentMigrationsApplyEachVersionOnce() async throws {
        let (url, drop) = try await PostgresTestServer.freshDatabase()
        let stores = try (0..<4).map { _ in try PostgresCustodyStore.connect(url: url) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for store in stores { group.addTask { try await store.migrate() } }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        // Each version applied by exactly one of the four, whichever won the lock.
        #expect(applied.sorted() == [1, 2])
        #expect(try await stores[0].appliedMigrations() == [1, 2])
        for store in stores { try await store.close() }
        await drop()
    }

    @Test func aBadURLIsOneClearError() {
        for url in ["mysql://x@y/z", "postgres://host/db", "postgres://u@host:99999/db", "postgres://u@host/db?sslmode=maybe"] {
            #expect(throws: CustodyError.self, "\(url)") { _ = try PostgresCustodyStore.connect(url: url) }
        }
    }

    @Test func anOutageIsAClearErrorAndTheSameStoreRecovers() async throws {
        guard let server = PrivatePostgresServer() else { return }
        try await server.withRunning {
            let store = try PostgresCustodyStore.connect(url: server.url, operationTimeout: .seconds(3))
            try await store.migrate()
            let fixtures = Fixtures()
            let (record, _) = try await fixtures.key()
            try await store.insertKey(record)

            try await server.run("stop-postgres")
            let started = ContinuousClock.now
            do {
                _ = try await store.key(id: record.id)
                Issue.record("read succeeded while PostgreSQL was down")
            } catch let error as CustodyError {
                #expect(error.code == .storeUnavailable)
                #expect(!error.description.isEmpty)
            }
            #expect(started.duration(to: .now) < .seconds(5))

            try await server.run("start-postgres")
            var recovered: KeyRecord? = nil
            for _ in 0..<50 where recovered == nil {
                recovered = try? await store.key(id: record.id)
                if recovered == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(recovered == record)
            try await store.close()
        }
    }
}
