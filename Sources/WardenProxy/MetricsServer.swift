public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// The HTTP endpoint Prometheus scrapes: `GET /metrics` on `warden serve --metrics HOST:PORT`.
///
/// Plain HTTP, as Prometheus scrapes by default: it carries counts by service and no subject, peer
/// or secret. Bind it to loopback or a management network. A `Service`: it listens from `run` until
/// graceful shutdown.
public final class MetricsServer: Service, Sendable {
    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let logger: Logger
    private let render: @Sendable () -> [UInt8]
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// A scraper's connection is closed after this long without a request.
    static let idleTimeout: TimeAmount = .seconds(120)

    /// `render` makes the body of each response (Prometheus' text format).
    public init(
        host: String, port: Int, group: any EventLoopGroup, logger: Logger,
        render: @escaping @Sendable () -> [UInt8]
    ) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.render = render
    }

    /// Binds the listener; returns its address (the port is chosen when 0 was given).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let render = self.render
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                        try pipeline.configureHTTPServerPipeline()
                        try pipeline.addHandler(MetricsHTTPHandler(render: render))
                    }
                }
                .bind(host: self.host, port: self.port)
                .get()
        } catch {
            throw MetricsServerError(description: "cannot listen for metrics on \(self.host):\(self.port): \(error)")
        }
        self.channel.withLockedValue { $0 = channel }
        let address = channel.localAddress!
        self.logger.info("serving metrics", metadata: ["address": "\(address)", "path": "/metrics"])
        return address
    }

    public func run() async throws {
        try await self.start()
        try? await gracefulShutdown()
        await self.shutdown()
    }

    /// Stops listening. Scrapes in progress finish on their own connections.
    public func shutdown() async {
        let channel = self.channel.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
    }
}

/// Why the metrics endpoint could not start.
public struct MetricsServerError: Error, CustomStringConvertible {
    public let description: String
}

/// Answers `GET` and `HEAD /metrics` with the exposition; 404 for other paths, 405 for other methods.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: @Sendable () -> [UInt8]
    private var request: HTTPRequestHead?

    init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.request = head
        case .body:
            // No request here has a body worth reading; it is discarded as it arrives.
            break
        case .end:
            guard let head = self.request else { return }
            self.request = nil
            self.respond(to: head, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        var body: [UInt8]
        if path != "/metrics" {
            status = .notFound
            body = Array("Not found: Warden serves its metrics at /metrics\n".utf8)
        } else if request.method != .GET && request.method != .HEAD {
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET, HEAD")
            body = Array("Method not allowed: use GET\n".utf8)
        } else {
            status = .ok
            body = self.render()
        }
        headers.add(
            name: "Content-Type",
            value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.count)")
        if request.method == .HEAD { body = [] }
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }

        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if !body.isEmpty {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let ended = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            ended.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
