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
            throw MetricsServerError(.cannotListen, "cannot listen for metrics on \(self.host):\(self.port): \(error)")
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

/// Why the metrics endpoint could not start: a code to compare, and a message.
public struct MetricsServerError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// Its address cannot be listened on (taken, or not this machine's).
        public static let cannotListen = Code("cannotListen")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: MetricsServerError, rhs: MetricsServerError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
