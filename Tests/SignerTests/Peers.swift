import Foundation
import NostrCrypto
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Where the repository and its Python peers are.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let python = root + "/.venv/bin/python"
    static func peer(_ name: String) -> String { root + "/Tests/interop/peers/" + name }
    /// `make test` creates the venv; a bare `swift test` without it runs only the tiers that need nothing.
    static var hasPeers: Bool { FileManager.default.isExecutableFile(atPath: python) }
}

/// A child process whose stdout is read line by line (each line a JSON value from our peer scripts).
final class PeerProcess: Sendable {
    let pid: pid_t
    private let output = Mutex<(lines: [String], finished: Bool)>(([], false))

    init(_ arguments: [String]) throws {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw PeerError("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        close(pipe[1])
        guard spawned == 0 else {
            close(pipe[0])
            throw PeerError("cannot start \(arguments[0]): errno \(spawned)")
        }
        self.pid = pid
        let descriptor = pipe[0]
        // A thread of its own: the read blocks, and must not hold a cooperative-pool thread.
        Thread.detachNewThread { [self] in
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    self.output.withLock { $0.lines.append(line) }
                }
            }
            self.output.withLock { $0.finished = true }
        }
    }

    /// The next line, or an error after `timeout`.
    func nextLine(timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let next: String?? = self.output.withLock { output in
                if !output.lines.isEmpty { return .some(output.lines.removeFirst()) }
                return output.finished ? .some(nil) : nil
            }
            switch next {
            case .some(.some(let line)): return line
            case .some(.none): throw PeerError("the peer exited")
            case .none: try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw PeerError("no output within \(timeout)")
    }

    /// The next line parsed as a JSON object.
    func nextObject(timeout: Duration = .seconds(30)) async throws -> [String: JSONValue] {
        let line = try await self.nextLine(timeout: timeout)
        guard let object = try JSONValue.parse(line).objectValue else { throw PeerError("not a JSON object: \(line)") }
        return object
    }

    func kill() {
        Glibc.kill(self.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(self.pid, &status, 0)
    }
}

struct PeerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Which relay implementation a test runs against.
enum RelayImplementation: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// rust-nostr's LocalRelay (nostr-sdk): does not store ephemeral events.
    case localRelay = "rust-nostr LocalRelay"
    /// The `nostr-relay` Python package (uvicorn, SQLite): stores even kind 24133.
    case nostrRelay = "nostr-relay (Python)"

    var testDescription: String { self.rawValue }
}

/// A relay on a loopback port, which a test can kill and start again on the same port.
final class LocalRelay: Sendable {
    let port: Int
    let url: String
    let implementation: RelayImplementation
    private let directory: String
    /// Whether subscribers must authenticate (NIP-42) before events reach them.
    let requiresAuthentication: Bool
    private let process: Mutex<PeerProcess?>

    init(_ implementation: RelayImplementation = .localRelay, requiresAuthentication: Bool = false) async throws {
        self.port = try freeLoopbackPort()
        self.implementation = implementation
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString)").path
        self.requiresAuthentication = requiresAuthentication
        self.url = "ws://127.0.0.1:\(self.port)"
        self.process = Mutex(nil)
        try await self.start()
    }

    func start() async throws {
        let arguments: [String]
        switch self.implementation {
        case .localRelay:
            arguments = [Repository.peer("local_relay.py"), String(self.port)] + (self.requiresAuthentication ? ["--auth"] : [])
        case .nostrRelay:
            arguments = [Repository.peer("python_relay.py"), String(self.port), self.directory]
        }
        let process = try PeerProcess([Repository.python] + arguments)
        // nostr-relay prints a banner of its own first; the URL line says it listens.
        var line = try await process.nextLine(timeout: .seconds(20))
        while !line.hasPrefix("ws://") { line = try await process.nextLine(timeout: .seconds(20)) }
        guard line == self.url else { throw PeerError("relay printed \(line)") }
        self.process.withLock { $0 = process }
    }

    func kill() { self.process.withLock { $0?.kill(); $0 = nil } }

    /// Kills the relay and removes what it stored.
    func remove() {
        self.kill()
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

