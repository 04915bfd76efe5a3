import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP response as the load generator needs it: the status and the whole body.
struct HTTPReply: Sendable {
    var status: Int
    var body: [UInt8]
}

struct HTTPConnectionError: Error, CustomStringConvertible {
    let description: String
}

/// One keep-alive HTTP/1.1 connection with one request in flight, on SwiftNIO's `NIOAsyncChannel`: the admin calls
/// of `loadgen setup` (the load itself goes through ``HTTPLane``, which costs less per request).
///
/// The bare protocol: no pool, no redirects, no decompression. It lives inside
/// ``HTTPConnection/withConnection(to:_:)``, which owns the channel and closes it.
final class HTTPConnection {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private let host: String

    private init(inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, host: String) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.host = host
    }

    /// Connects to `server` (`http://host:port`), runs `body` with the connection, then closes it.
    static func withConnection<Result: Sendable>(
        to server: ServerAddress,
        _ body: (HTTPConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try Channel(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(HTTPConnection(inbound: inbound, outbound: outbound, host: server.hostHeader))
        }
    }

    /// Sends one request and reads its whole response.
    func request(method: HTTPMethod, path: String, headers extra: [(String, String)] = [], body: [UInt8]? = nil) async throws -> HTTPReply {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: self.host)
        for (name, value) in extra { headers.add(name: name, value: value) }
        if let body {
            headers.add(name: "Content-Length", value: String(body.count))
        }
        var parts: [HTTPClientRequestPart] = [.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers))]
        if let body { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        try await self.outbound.write(contentsOf: parts)

        var status: Int?
        var collected: [UInt8] = []
        while let part = try await self.inbound.next() {
            switch part {
            case .head(let head):
                status = Int(head.status.code)
            case .body(let buffer):
                collected.append(contentsOf: buffer.readableBytesView)
            case .end:
                guard let status else { throw HTTPConnectionError(description: "response without a head") }
                return HTTPReply(status: status, body: collected)
            }
        }
        throw HTTPConnectionError(description: "connection closed by the server")
    }
}

/// `http://host:port` taken apart; the load generator speaks plain HTTP to loopback or a private network.
struct ServerAddress: Sendable, CustomStringConvertible {
    let host: String
    let port: Int

    init(url: String) throws {
        guard url.hasPrefix("http://") else { throw HTTPConnectionError(description: "--server must be http://host:port, got \(url)") }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            throw HTTPConnectionError(description: "--server must name a port: http://host:port, got \(url)")
        }
        self.host = String(rest[..<colon])
        self.port = port
    }

    var hostHeader: String { "\(self.host):\(self.port)" }
    var description: String { "http://\(self.hostHeader)" }
}
