import NATSProtocol
import NIOCore
import NIOPosix

/// Reads nats-server's INFO once at start, before any client connects, so that the first clients are
/// already told the version of the nats-server behind Warden (`ServerInfo.Upstream`). nats-server sends
/// INFO in plain text before the TLS handshake, so this needs no credentials. Best effort: when
/// nats-server cannot be reached, sessions learn the version from their own upstream INFO later.
enum UpstreamProbe {
    /// The INFO of the first seed server that answers within `timeout`, in the order given.
    static func info(
        of seeds: [ProxyConfiguration.Upstream], group: any EventLoopGroup, timeout: TimeAmount = .seconds(2)
    ) async -> ServerInfo.Upstream? {
        for server in seeds.map(UpstreamEndpoint.init) {
            if let facts = await Self.info(of: server, group: group, timeout: timeout) { return facts }
        }
        return nil
    }

    private static func info(of server: UpstreamEndpoint, group: any EventLoopGroup, timeout: TimeAmount) async
        -> ServerInfo.Upstream?
    {
        let loop = group.next()
        let result = loop.makePromise(of: ServerInfo.Upstream?.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(InfoReader(result: result))
                }
            }
        let connected =
            server.address.map { bootstrap.connect(to: $0) }
            ?? bootstrap.connect(host: server.url.host, port: server.url.port)
        connected.whenFailure { _ in result.succeed(nil) }
        let deadline = loop.scheduleTask(in: timeout) { result.succeed(nil) }
        let facts = try? await result.futureResult.get()
        deadline.cancel()
        if let channel = try? await connected.get() { try? await channel.close() }
        return facts ?? nil
    }

    private final class InfoReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private var reader = FrameReader(NATSServerParser())
        private let result: EventLoopPromise<ServerInfo.Upstream?>

        init(result: EventLoopPromise<ServerInfo.Upstream?>) {
            self.result = result
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.reader.receive(self.unwrapInboundIn(data))
            guard let frame = try? self.reader.next() else { return }
            if case .info(let json) = frame.operation {
                self.result.succeed(ServerInfo.Upstream(json: json))
            } else {
                self.result.succeed(nil)
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.result.succeed(nil)
        }
    }
}
