import NIOCore

/// The client side of a session: bytes in (the session decodes them in place), reads held back while
/// the session is paused.
final class ClientProxyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: ProxySession
    private var context: ChannelHandlerContext?
    private var gate = ReadGate()

    init(session: ProxySession) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.session.clientHandler = self
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.session.clientRead(self.unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.session.clientReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.session.clientClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.session.clientWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.session.logger.debug("client connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        self.gate.read(context: context, paused: !self.session.clientPause.isEmpty)
    }

    func resumeReading() {
        self.gate.resume(self.context)
    }
}
