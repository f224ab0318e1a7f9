import NIOCore
import NIOSSL
import WardenPKI

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

    init(attempt: ConnectionAttempt) {
        self.attempt = attempt
    }

    func channelActive(context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        let channel = context.channel
        let attempt = self.attempt
        let timeout = attempt.context.settings.handshakeTimeout
        attempt.deadline = loop.scheduleTask(in: timeout) {
            attempt.handle({ $0.deadlineReached("\(timeout)") }, channel: channel)
        }
        self.window = loop.scheduleTask(in: attempt.context.settings.handshakeFirstWindow) {
            attempt.handle({ $0.windowElapsed() }, channel: channel)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        self.window?.cancel()
        // 0x16: a TLS handshake record, the start of every ClientHello.
        let startsHandshake = bytes.readableBytesView.first == 0x16
        guard
            self.attempt.handle({ $0.firstBytes(startsHandshake: startsHandshake) }, channel: context.channel)
                == .startTLS
        else { return }
        let attempt = self.attempt
        let tls = NIOSSLServerHandler(context: attempt.context.tls.listener) { certificates, promise in
            let result: Result<CredentialStore.Admission, AdmissionStateMachine.Refusal>
            if let leaf = certificates.first, let der = try? leaf.toDERBytes() {
                result = attempt.context.credentials.admit(der: der).mapError {
                    AdmissionStateMachine.Refusal(reason: "\($0.code.rawValue): \($0.reason)")
                }
            } else {
                result = .failure(AdmissionStateMachine.Refusal(reason: "no client certificate"))
            }
            attempt.certificateChecked(result)
            switch result {
            case .success: promise.succeed(.certificateVerified)
            case .failure: promise.succeed(.failed)
            }
        }
        do {
            try context.pipeline.syncOperations.addHandlers(
                [tls, ClientTLSHandler(attempt: attempt)], position: .after(self))
        } catch {
            attempt.handle({ $0.setupFailed("internal error setting up TLS: \(error)") }, channel: context.channel)
            return
        }
        context.fireChannelRead(self.wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.window?.cancel()
        self.attempt.handle({ $0.closed() }, channel: context.channel)
        context.fireChannelInactive()
    }
}
