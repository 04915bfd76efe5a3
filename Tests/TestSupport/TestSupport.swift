import Foundation

#if canImport(Glibc)
import Glibc
#endif

// What several test targets need and no production code does.

/// A fresh directory under the system temporary directory, removed by `cleanUp()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init() {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("signer-tests-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { self.path + "/" + name }

    public func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

public struct LoopbackPortError: Error, CustomStringConvertible {
    public let description = "cannot bind a loopback port"
}

/// A loopback port that was free a moment ago (and on which nothing listens now).
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
    guard bound == 0 else { throw LoopbackPortError() }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on this loopback port.
public func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = loopbackAddress(port: UInt16(port))
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return address
}

public struct RedisServerError: Error, CustomStringConvertible {
    public let description: String
}

/// A private redis-server on a loopback port (Debian's redis-server package), with nothing saved to disk; `stop()`
/// and `start()` again on the same port stand for an outage.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    private let arguments: [String]
    private let lock = NSLock()
    private var process: Process?

    public init(arguments: [String] = []) throws {
        self.port = try freeLoopbackPort()
        self.arguments = arguments
        try self.start()
    }

    deinit { self.stop() }

    public var url: String { "redis://127.0.0.1:\(self.port)" }

    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", "\(self.port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"] + self.arguments
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw RedisServerError(description: "cannot start /usr/bin/redis-server (install redis-server: make deps): \(error)") }
        self.lock.withLock { self.process = process }
        for _ in 0..<200 {
            if canConnect(port: self.port) { return }
            usleep(25_000)
        }
        throw RedisServerError(description: "redis-server did not start on port \(self.port)")
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients) and waits for it to exit.
    public func stop() {
        guard let process = self.lock.withLock({ () -> Process? in
            defer { self.process = nil }
            return self.process
        }) else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Runs CPU-heavy test work on a thread of its own instead of Swift's cooperative pool. The pool has one thread per
/// core (two here), and a test that holds one for seconds starves every timing-sensitive test running beside it.
/// `body` must not record issues: it runs outside the test's task.
public func offCooperativePool<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
