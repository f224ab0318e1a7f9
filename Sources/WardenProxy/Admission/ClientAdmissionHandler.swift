import NIOCore
import NIOSSL

/// First handler of an accepted connection: decides between the two ways a NATS client starts TLS.
///
/// A client that starts with a TLS ClientHello (`handshake_first`) gets the handshake at once and INFO
/// after it. Otherwise, after a short window, Warden sends INFO in plain text, the way nats-server
/// does, and expects the handshake next. Anything else than a handshake is refused with nats-server's
/// `Secure Connection - TLS Required`, before a single byte of it is interpreted.
final class ClientAdmissionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let attempt: ConnectionAttempt
    private var window: Scheduled<Void>?
    private var decided = false

    init(attempt: ConnectionAttempt) {
        self.attempt = attempt
    }

    func channelActive(context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        let channel = context.channel
        let attempt = self.attempt
        attempt.deadline = loop.scheduleTask(in: attempt.env.configuration.handshakeTimeout) {
            attempt.refuse(
                "no verified TLS session within \(attempt.env.configuration.handshakeTimeout)", channel: channel)
        }
        self.window = loop.scheduleTask(in: attempt.env.configuration.handshakeFirstWindow) { [self] in
            guard !self.decided else { return }
            self.attempt.infoSent = true
            context.writeAndFlush(self.wrapOutboundOut(self.attempt.infoLine()), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        guard !self.decided else { return }
        self.decided = true
        self.window?.cancel()
        // 0x16: a TLS handshake record, the start of every ClientHello.
        guard bytes.readableBytesView.first == 0x16 else {
            context.writeAndFlush(
                self.wrapOutboundOut(ByteBuffer(string: "-ERR 'Secure Connection - TLS Required'\r\n")), promise: nil)
            self.attempt.refuse("plaintext connection: TLS is required", channel: context.channel)
            return
        }
        let attempt = self.attempt
        let tls = NIOSSLServerHandler(context: attempt.env.listenerTLS) { certificates, promise in
            guard let leaf = certificates.first, let der = try? leaf.toDERBytes() else {
                attempt.failure = "no client certificate"
                promise.succeed(.failed)
                return
            }
            switch attempt.env.credentials.admit(der: der) {
            case .success(let admission):
                attempt.admission = admission
                promise.succeed(.certificateVerified)
            case .failure(let failure):
                attempt.failure = "\(failure.code.rawValue): \(failure.reason)"
                promise.succeed(.failed)
            }
        }
        do {
            try context.pipeline.syncOperations.addHandlers(
                [tls, ClientTLSHandler(attempt: attempt)], position: .after(self))
        } catch {
            attempt.refuse("internal error setting up TLS: \(error)", channel: context.channel)
            return
        }
        context.fireChannelRead(self.wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.window?.cancel()
        if !self.decided {
            self.attempt.refuse("closed before starting TLS", channel: context.channel)
        }
        context.fireChannelInactive()
    }
}
