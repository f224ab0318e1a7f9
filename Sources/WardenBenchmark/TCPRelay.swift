import NIOCore
import NIOPosix

/// A bare TCP relay in front of nats-server: bytes in, bytes out, no TLS termination, no parsing, no
/// log. The request/reply workload runs through it as a reference: what the extra hops of any proxy
/// cost on this machine, before Warden does anything.
final class TCPRelay {
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    init(targetPort: Int) throws {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.channel = try ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMapThrowing { outbound in
                        let (inboundSide, outboundSide) = RelayHandler.pair()
                        try inbound.pipeline.syncOperations.addHandler(inboundSide)
                        try outbound.pipeline.syncOperations.addHandler(outboundSide)
                    }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.port = self.channel.localAddress?.port ?? 0
    }

    func stop() {
        try? self.channel.close().wait()
        try? self.group.syncShutdownGracefully()
    }
}

/// One side of a relayed connection: what it reads is written to the other side's channel. Both
/// channels are on the same event loop, so the two handlers may call each other directly.
private final class RelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var peer: RelayHandler?
    private var context: ChannelHandlerContext?

    static func pair() -> (RelayHandler, RelayHandler) {
        let first = RelayHandler()
        let second = RelayHandler()
        first.peer = second
        second.peer = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.peer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.peer?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.peer?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.peer?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
