import NATSProtocol
import NIOCore
import NIOSSL
import NIOTLS
import WardenPKI

/// The upstream side of a session: nats-server's INFO, the TLS upgrade, then decoded frames.
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: ProxySession
    private var context: ChannelHandlerContext?
    private var gate = ReadGate()
    /// Reads nats-server's plaintext INFO; after the handshake the session reads everything.
    private var reader = FrameReader(NATSServerParser())
    private var sawInfo = false
    private var ready = false
    /// Whether NATS traffic has come through TLS yet (and the receive allocator was switched).
    private var carriesTraffic = false

    init(session: ProxySession) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.session.upstreamActive(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.ready else {
            if !self.carriesTraffic {
                // Not at the handshake's end: nats-server then sends a TLS 1.3 session ticket that
                // carries Warden's certificate, over 1 KiB, which would grow the buffer for good.
                self.carriesTraffic = true
                ProxySession.useReceiveAllocatorForTraffic(on: context.channel)
            }
            self.session.upstreamRead(self.unwrapInboundIn(data))
            return
        }
        // Before TLS: nats-server sends its INFO and waits for the handshake; anything else is not
        // nats-server.
        self.reader.receive(self.unwrapInboundIn(data))
        do throws(NATSProtocolError) {
            guard let frame = try self.reader.next() else { return }
            self.beforeTLS(frame, context: context)
        } catch {
            self.session.upstreamFailed("nats-server broke the protocol: \(error)")
            return
        }
        if self.reader.hasUnreadBytes {
            self.session.upstreamFailed("nats-server sent data before the TLS handshake completed")
        }
    }

    /// The one frame expected before TLS: nats-server's INFO, which starts the TLS upgrade.
    private func beforeTLS(_ frame: Frame<ServerOperation>, context: ChannelHandlerContext) {
        guard !self.sawInfo else {
            self.session.upstreamFailed("nats-server sent data before the TLS handshake completed")
            return
        }
        self.sawInfo = true
        guard case .info(let json) = frame.operation else {
            self.session.upstreamFailed("nats-server did not start with INFO")
            return
        }
        if let facts = ServerInfo.Upstream(json: json), facts != self.session.env.upstreamInfo {
            self.session.env.upstreamInfo = facts
        }
        self.startTLS(context: context)
    }

    private func startTLS(context: ChannelHandlerContext) {
        let env = self.session.env
        do {
            let tls = try NIOSSLClientHandler(context: env.upstreamTLS, serverHostname: env.upstreamServerName)
            try context.pipeline.syncOperations.addHandler(tls, position: .first)
        } catch {
            self.session.upstreamFailed("cannot start TLS: \(error)")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            guard self.peerNamesTheHostDialled(context: context) else {
                self.session.upstreamFailed(
                    "nats-server's certificate does not name \(self.session.env.configuration.upstream.host) (DNS names only)"
                )
                return
            }
            self.ready = true
            self.session.upstreamReady()
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether nats-server's certificate, already verified by NIOSSL, names the host Warden dialled.
    /// For a host name NIOSSL also accepts the IP address the name resolved to; Warden then requires
    /// the name itself, as Go's TLS does (`ServerName`). An address dialled is NIOSSL's check alone.
    private func peerNamesTheHostDialled(context: ChannelHandlerContext) -> Bool {
        guard let name = self.session.env.upstreamServerName else { return true }
        guard let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self),
            let der = try? handler.peerCertificate?.toDERBytes()
        else { return false }
        return ServerName.certificate(der: der, names: name)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.session.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.session.upstreamClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.session.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.session.upstreamFailed("\(error)")
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        self.gate.read(context: context, paused: !self.session.upstreamPause.isEmpty)
    }

    func resumeReading() {
        self.gate.resume(self.context)
    }
}
