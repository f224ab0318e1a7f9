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
    private var machine = UpstreamStateMachine()
    /// The nats-server dialled, whose certificate must name it.
    private let server: UpstreamEndpoint
    /// What nats-server's first INFO announced, for the pool once the connection is ready.
    private var announcement = ServerInfo.Announcement()

    init(session: ProxySession, server: UpstreamEndpoint) {
        self.session = session
        self.server = server
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
        let bytes = self.unwrapInboundIn(data)
        let action: UpstreamStateMachine.Action
        if self.machine.state == .awaitingInfo {
            self.reader.receive(bytes)
            let frame = Result { () throws(NATSProtocolError) in try self.reader.next() }
            action = self.machine.plaintext(frame, moreBytes: self.reader.hasUnreadBytes)
        } else {
            action = self.machine.traffic()
        }
        self.carryOut(action, bytes: bytes, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let action = self.machine.handshakeCompleted(
                namesHost: self.peerNamesTheHostDialled(context: context),
                host: self.server.url.host)
            self.carryOut(action, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func carryOut(
        _ action: UpstreamStateMachine.Action, bytes: ByteBuffer? = nil, context: ChannelHandlerContext
    ) {
        switch action {
        case .none:
            break
        case .startTLS(let json):
            // Read once for both: what Warden's INFO repeats, and what the pool learns.
            let info = ServerInfo.object(json)
            if let facts = info.flatMap(ServerInfo.Upstream.init(object:)), facts != self.session.info.upstream {
                self.session.info.upstream = facts
            }
            self.announcement = info.map(ServerInfo.Announcement.init(object:)) ?? ServerInfo.Announcement()
            do {
                let tls = try NIOSSLClientHandler(
                    context: self.session.upstream.context, serverHostname: self.server.serverName)
                try context.pipeline.syncOperations.addHandler(tls, position: .first)
            } catch {
                self.carryOut(self.machine.failed("cannot start TLS: \(error)"), context: context)
            }
        case .fail(let reason):
            if self.machine.state == .failed(duringHandshake: true) {
                // nats-server's TLS or certificate did not pass: not a server to send clients to.
                self.session.upstream.failedChecks(self.server, reason: reason)
            }
            self.session.upstreamFailed(reason)
        case .ready:
            self.session.upstreamReady(announcement: self.announcement)
        case .forward(let firstTraffic):
            if firstTraffic {
                // Not at the handshake's end: nats-server then sends a TLS 1.3 session ticket that
                // carries Warden's certificate, over 1 KiB, which would grow the buffer for good.
                ReceiveBuffers.useTrafficAllocator(on: context.channel)
            }
            if let bytes { self.session.upstreamRead(bytes) }
        }
    }

    /// Whether nats-server's certificate, already verified by NIOSSL, names the host Warden dialled.
    /// For a host name NIOSSL also accepts the IP address the name resolved to; Warden then requires
    /// the name itself, as Go's TLS does (`ServerName`). An address dialled is NIOSSL's check alone.
    private func peerNamesTheHostDialled(context: ChannelHandlerContext) -> Bool {
        guard let name = self.server.serverName else { return true }
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
        self.carryOut(self.machine.failed("\(error)"), context: context)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        self.gate.read(context: context, paused: !self.session.upstreamPause.isEmpty)
    }

    func resumeReading() {
        self.gate.resume(self.context)
    }
}
