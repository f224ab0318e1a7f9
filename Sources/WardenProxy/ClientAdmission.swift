import WardenAudit
import Logging
import NATSProtocol
import NIOCore
import NIOSSL
import NIOTLS
import WardenPKI
import WardenPolicy

/// One accepted TCP connection on its way to becoming a verified client: shared by the handlers that
/// take it through TLS, and the place that makes sure the attempt gets exactly one `connect` record.
final class ConnectionAttempt {
    let env: ProxyEnvironment
    let conn: UInt64
    let peer: String
    let clientIP: String?
    var logger: Logger
    /// INFO went out in plain text before the handshake (the usual NATS order).
    var infoSent = false
    var recorded = false
    /// Set by the TLS verification callback.
    var admission: CredentialStore.Admission?
    var failure: String?
    var deadline: Scheduled<Void>?

    init(env: ProxyEnvironment, channel: any Channel) {
        self.env = env
        self.conn = env.newConnectionID()
        self.peer = channel.remoteAddress?.peerDescription ?? "unknown"
        self.clientIP = channel.remoteAddress?.ipAddress
        var logger = env.logger
        logger[metadataKey: "conn"] = "\(self.conn)"
        logger[metadataKey: "peer"] = "\(self.peer)"
        self.logger = logger
    }

    func infoLine() -> ByteBuffer {
        ByteBuffer(string: ServerInfo.warden(
            serverID: self.env.serverID, clientID: self.conn, clientIP: self.clientIP,
            maxPayload: self.env.configuration.maxPayload, upstream: self.env.upstreamInfo))
    }

    /// Records the refusal (once) and closes the connection.
    func refuse(_ reason: String, channel: any Channel, service: String? = nil) {
        self.deadline?.cancel()
        if !self.recorded {
            self.recorded = true
            self.logger.info("connection refused", metadata: ["reason": "\(reason)"])
            _ = self.env.submit(DecisionRecord(
                decision: .deny, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: .enforce,
                rule: "mtls", reason: reason))
        }
        channel.close(promise: nil)
    }

    /// Records the admission (once).
    func admit(service: String, admission: CredentialStore.Admission, mode: PolicyMode) {
        self.deadline?.cancel()
        guard !self.recorded else { return }
        self.recorded = true
        _ = self.env.submit(DecisionRecord(
            decision: .allow, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: mode,
            rule: "mtls", identity: admission.identity.uri(trustDomain: self.env.credentials.trustDomain),
            serial: admission.serial))
    }
}

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
            attempt.refuse("no verified TLS session within \(attempt.env.configuration.handshakeTimeout)", channel: channel)
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
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "-ERR 'Secure Connection - TLS Required'\r\n")), promise: nil)
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
            try context.pipeline.syncOperations.addHandlers([tls, ClientTLSHandler(attempt: attempt)], position: .after(self))
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

/// Waits for the TLS handshake, then admits the client: records the `connect` decision, sends INFO
/// if the client started with the handshake, and hands the connection to the proxy.
final class ClientTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let attempt: ConnectionAttempt
    private var admitted = false

    init(attempt: ConnectionAttempt) {
        self.attempt = attempt
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case TLSUserEvent.handshakeCompleted = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard let admission = self.attempt.admission else {
            self.attempt.refuse(self.attempt.failure ?? "TLS session without a verified client certificate", channel: context.channel)
            return
        }
        guard case .service(let service) = admission.identity else {
            self.attempt.refuse("Warden's own identity cannot connect as a service", channel: context.channel)
            return
        }
        self.admitted = true
        // A client sends nothing more of TLS's after its Finished: its NATS traffic starts here.
        ProxySession.useReceiveAllocatorForTraffic(on: context.channel)
        let env = self.attempt.env
        let policy = env.registry.policy.policy(for: service)
        self.attempt.admit(service: service, admission: admission, mode: policy?.mode ?? .enforce)
        self.attempt.logger[metadataKey: "service"] = "\(service)"
        self.attempt.logger.debug("client admitted", metadata: ["serial": "\(admission.serial)"])
        if policy == nil {
            self.attempt.logger.warning("service has no ACL entry; every operation will be denied")
        }
        if !self.attempt.infoSent {
            context.writeAndFlush(self.wrapOutboundOut(self.attempt.infoLine()), promise: nil)
        }
        let session = ProxySession(
            env: env, clientChannel: context.channel, logger: self.attempt.logger,
            machine: ProxyStateMachine(service: service, policy: policy, conn: self.attempt.conn, peer: self.attempt.peer))
        let latest = env.registry.add(self.attempt.conn, .init(
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
        guard !self.admitted else {
            context.fireErrorCaught(error)
            return
        }
        self.attempt.refuse(self.attempt.failure ?? Self.describe(error), channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.admitted {
            self.attempt.refuse(self.attempt.failure ?? "closed during the TLS handshake", channel: context.channel)
        }
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
