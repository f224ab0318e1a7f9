import NIOCore
import NIOSSL
import NIOTLS

/// Waits for the TLS handshake, then admits the client: records the `connect` decision, sends INFO
/// if the client started with the handshake, and hands the connection to the proxy.
final class ClientTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let attempt: ConnectionAttempt

    init(attempt: ConnectionAttempt) {
        self.attempt = attempt
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case TLSUserEvent.handshakeCompleted = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let shared = self.attempt.context
        let atCapacity = shared.registry.count >= shared.settings.maxConnections
        guard
            case .admit(let service, let admission, let sendInfo) = self.attempt.handle(
                { $0.handshakeCompleted(atCapacity: atCapacity) }, channel: context.channel)
        else { return }
        // A client sends nothing more of TLS's after its Finished: its NATS traffic starts here.
        ReceiveBuffers.useTrafficAllocator(on: context.channel)
        let policy = shared.registry.policy.policy(for: service)
        self.attempt.logger[metadataKey: "service"] = "\(service)"
        self.attempt.logger.debug("client admitted", metadata: ["serial": "\(admission.serial)"])
        if policy == nil {
            self.attempt.logger.warning("service has no ACL entry; every operation will be denied")
        }
        if sendInfo {
            context.writeAndFlush(self.wrapOutboundOut(self.attempt.infoLine()), promise: nil)
        }
        let session = shared.sessions.makeSession(
            service: service, policy: policy, conn: self.attempt.conn, peer: self.attempt.peer,
            channel: context.channel, logger: self.attempt.logger)
        let latest = shared.registry.add(
            self.attempt.conn,
            .init(
                service: service, serial: admission.serial, notAfter: admission.notAfter, channel: context.channel,
                session: NIOLoopBound(session, eventLoop: context.eventLoop)))
        // The ACLs were reloaded while this connection was being set up.
        _ = session.policyChanged(latest)
        do {
            try context.pipeline.syncOperations.addHandler(
                ClientProxyHandler(session: session), position: .after(self))
        } catch {
            self.attempt.logger.error("cannot set up the proxy", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        session.connectUpstream()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing is read before admission; the proxy's decoder takes over once it is installed.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard self.attempt.machine.state != .admitted else {
            context.fireErrorCaught(error)
            return
        }
        self.attempt.handle({ $0.handshakeFailed(Self.describe(error)) }, channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.attempt.handle({ $0.closed() }, channel: context.channel)
        context.fireChannelInactive()
    }

    /// A handshake error in words a user can act on.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || text.contains("CERTIFICATE_REQUIRED") {
            return "no client certificate"
        }
        if text.contains("UNSUPPORTED_PROTOCOL") || text.contains("WRONG_VERSION") {
            return "TLS version below 1.2 or not TLS: \(text)"
        }
        return "TLS handshake failed: \(text)"
    }
}
