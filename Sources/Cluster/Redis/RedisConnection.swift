import CHiredis
import Foundation
import NostrCrypto

/// A reply from Redis. Error replies are not values: they are thrown as ``RedisError/Code/server``.
public enum RedisValue: Sendable, Hashable {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null

    /// A bulk or status reply as text.
    public var text: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var elements: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// One blocking hiredis connection, used by one thread at a time (its owner's): connect with a time-out, log in,
/// select the database, then pipelined commands. Never touched from the cooperative pool or an event loop.
final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    let endpoint: RedisEndpoint
    let connectTimeout: Duration
    let commandTimeout: Duration

    init(endpoint: RedisEndpoint, connectTimeout: Duration, commandTimeout: Duration) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    deinit { self.close() }

    var isConnected: Bool { self.context != nil }

    /// Connects, logs in and selects the database; a connection that fails any step is closed again.
    func connect() throws(RedisError) {
        self.close()
        guard let context = redisConnectWithTimeout(self.endpoint.host, Int32(self.endpoint.port), Self.timeValue(self.connectTimeout)) else {
            throw RedisError(.connection, "cannot connect to Redis at \(self.endpoint.host):\(self.endpoint.port): out of memory")
        }
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            redisFree(context)
            throw RedisError(.connection, "cannot connect to Redis at \(self.endpoint.host):\(self.endpoint.port): \(reason)")
        }
        redisSetTimeout(context, Self.timeValue(self.commandTimeout))
        self.context = context
        do throws(RedisError) {
            if let password = self.endpoint.password {
                let login = self.endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                if case .failure(let refusal) = try self.execute([login.map { Array($0.utf8) }])[0] {
                    // The server's refusal (WRONGPASS …) names no password.
                    throw RedisError(.server, "Redis at \(self.endpoint.host):\(self.endpoint.port) refused the login: \(refusal.message)")
                }
            }
            if self.endpoint.database != 0,
                case .failure(let refusal) = try self.execute([["SELECT", String(self.endpoint.database)].map { Array($0.utf8) }])[0]
            {
                throw RedisError(.server, "Redis at \(self.endpoint.host):\(self.endpoint.port) refused database \(self.endpoint.database): \(refusal.message)")
            }
        } catch {
            self.close()
            throw error
        }
    }

    func close() {
        if let context = self.context { redisFree(context) }
        self.context = nil
    }

    /// Sends `commands` in one pipeline and reads their replies in order. A server error fails only its own command;
    /// a connection failure or a time-out closes the connection and throws (replies not yet read are lost, and their
    /// commands may or may not have run).
    func execute(_ commands: [[[UInt8]]]) throws(RedisError) -> [Result<RedisValue, RedisError>] {
        guard let context = self.context else { throw RedisError(.connection, "not connected to Redis") }
        for command in commands {
            let appended = Self.withArgv(command) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
            guard appended == REDIS_OK else { throw self.failure("send") }
        }
        var results: [Result<RedisValue, RedisError>] = []
        results.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw self.failure("read") }
            results.append(Self.value(of: reply.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(reply)
        }
        return results
    }

    /// Sends `command` without waiting for its reply (the subscriber's PING).
    func send(_ command: [[UInt8]]) throws(RedisError) {
        guard let context = self.context else { throw RedisError(.connection, "not connected to Redis") }
        let appended = Self.withArgv(command) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
        guard appended == REDIS_OK else { throw self.failure("send") }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw self.failure("send") }
        }
    }

    /// A reply already read into the buffer, or `nil`: never blocks.
    func bufferedReply() throws(RedisError) -> Result<RedisValue, RedisError>? {
        guard let context = self.context else { throw RedisError(.connection, "not connected to Redis") }
        var reply: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { throw self.failure("read") }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Waits up to `timeout` for the socket to have data, then reads what there is into the buffer.
    /// - Returns: whether anything was read.
    func readAvailable(waitingUpTo timeout: Duration) throws(RedisError) -> Bool {
        guard let context = self.context else { throw RedisError(.connection, "not connected to Redis") }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(timeout.milliseconds))
        if ready < 0 && errno == EINTR { return false }
        guard ready >= 0 else { throw self.failure("poll") }
        guard ready > 0 else { return false }
        guard redisBufferRead(context) == REDIS_OK else { throw self.failure("read") }
        return true
    }

    /// The context's error as a ``RedisError``, closing the connection (hiredis contexts are unusable after one).
    private func failure(_ operation: String) -> RedisError {
        guard let context = self.context else { return RedisError(.connection, "not connected to Redis") }
        let isTimeout = context.pointee.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
        let reason = Self.errorText(context)
        self.close()
        if isTimeout {
            return RedisError(.timeout, "Redis at \(self.endpoint.host):\(self.endpoint.port) did not answer within \(self.commandTimeout)")
        }
        return RedisError(.connection, "Redis connection to \(self.endpoint.host):\(self.endpoint.port) failed (\(operation)): \(reason)")
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let length = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<length], as: UTF8.self)
        }
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> Result<RedisValue, RedisError> {
        let reply = reply.pointee
        func text() -> String {
            guard let string = reply.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: string, count: reply.len), as: UTF8.self)
        }
        switch reply.type {
        case REDIS_REPLY_STRING:
            guard let string = reply.str else { return .success(.bulk([])) }
            return .success(.bulk(Array(UnsafeRawBufferPointer(start: string, count: reply.len))))
        case REDIS_REPLY_STATUS: return .success(.status(text()))
        case REDIS_REPLY_INTEGER: return .success(.integer(Int64(reply.integer)))
        case REDIS_REPLY_NIL: return .success(.null)
        case REDIS_REPLY_ERROR: return .failure(RedisError(.server, text()))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                guard let element = reply.element[index] else { continue }
                switch Self.value(of: element) {
                case .success(let value): elements.append(value)
                case .failure(let error): return .failure(error)
                }
            }
            return .success(.array(elements))
        default:
            return .failure(RedisError(.server, "unexpected Redis reply type \(reply.type)"))
        }
    }

    /// Calls `body` with C views of `arguments`, which stay valid for the call.
    private static func withArgv(
        _ arguments: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32
    ) -> Int32 {
        // One buffer for every argument, so the pointers stay put while hiredis formats the command.
        var joined: [UInt8] = []
        joined.reserveCapacity(arguments.reduce(0) { $0 + $1.count } + 1)
        var offsets: [Int] = []
        for argument in arguments {
            offsets.append(joined.count)
            joined.append(contentsOf: argument)
        }
        joined.append(0)
        let lengths = arguments.map(\.count)
        return joined.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lengths in body(Int32(arguments.count), argv.baseAddress!, lengths.baseAddress!) }
            }
        }
    }

    private static func timeValue(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
