import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import WardenTestSupport

/// A NATS client at the byte level, over TLS: for checking exactly what Warden sends on the wire
/// (INFO, -ERR texts, ordering) and for misbehaving on purpose. Real NATS clients are tested with
/// nats.c (`NATSClient`).
final class WireClient: @unchecked Sendable {
    enum Start {
        /// The usual NATS order: plain-text INFO from the server, then the TLS handshake.
        case infoFirst
        /// TLS handshake at once (nats-server's `handshake_first`).
        case handshakeFirst
    }

    private let channel: any Channel
    private let received: NIOLockedValueBox<String>
    /// The certificate the server presented, DER-encoded, taken when the handshake completed.
    private let presented: NIOLockedValueBox<[UInt8]>

    /// Connects and waits for the TLS session. A connection the server closes before its TLS session is
    /// up is tried again, up to four times: on a loaded machine the handshake can outlast the server's
    /// wait for it, which is not what the tests using this client are about. A TLS failure is not retried.
    static func connect(
        port: Int, start: Start, certificate: String?, key: String?, ca: String, group: any EventLoopGroup
    ) async throws -> WireClient {
        var attempt = 1
        while true {
            do {
                return try await Self.connectOnce(
                    port: port, start: start, certificate: certificate, key: key, ca: ca, group: group)
            } catch ChannelError.ioOnClosedChannel where attempt < 5 {
                attempt += 1
            }
        }
    }

    private static func connectOnce(
        port: Int, start: Start, certificate: String?, key: String?, ca: String, group: any EventLoopGroup
    ) async throws -> WireClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        if let certificate, let key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        let received = NIOLockedValueBox("")
        let presented = NIOLockedValueBox<[UInt8]>([])
        let secured = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let collector = Collector(
                        received: received, presented: presented, context: context,
                        startTLSAfterInfo: start == .infoFirst, secured: secured)
                    if start == .handshakeFirst {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        // Nothing is sent before the TLS session is up, as a real client would.
        channel.closeFuture.whenComplete { _ in secured.fail(ChannelError.ioOnClosedChannel) }
        try await secured.futureResult.get()
        return WireClient(channel: channel, received: received, presented: presented)
    }

    private init(channel: any Channel, received: NIOLockedValueBox<String>, presented: NIOLockedValueBox<[UInt8]>) {
        self.channel = channel
        self.received = received
        self.presented = presented
    }

    /// Everything received so far, decrypted.
    var text: String { self.received.withLockedValue { $0 } }

    var isClosed: Bool { !self.channel.isActive }

    func send(_ text: String) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(string: text))
    }

    func send(bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Waits (bounded) until the received text contains `needle` (`times` times); returns everything
    /// received.
    @discardableResult
    func waitFor(_ needle: String, times: Int = 1, timeout: Duration = .seconds(5)) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while self.text.components(separatedBy: needle).count - 1 < times {
            guard clock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.text
    }

    /// The certificate the server presented in the TLS handshake, DER-encoded: kept from the handshake,
    /// so it is there even once the server has closed the connection (a client that sends no CONNECT is
    /// closed after a while, sooner than a loaded machine may get here).
    func serverCertificate() async throws -> [UInt8] {
        self.presented.withLockedValue { $0 }
    }

    /// Waits (bounded) until the server closed the connection.
    func waitUntilClosed(timeout: Duration = .seconds(5)) async throws -> Bool {
        await eventually(timeout: timeout) { !self.channel.isActive }
    }

    func close() async {
        try? await self.channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let received: NIOLockedValueBox<String>
        private let presented: NIOLockedValueBox<[UInt8]>
        private let context: NIOSSLContext
        private var startTLSAfterInfo: Bool
        private let secured: EventLoopPromise<Void>

        init(
            received: NIOLockedValueBox<String>, presented: NIOLockedValueBox<[UInt8]>, context: NIOSSLContext,
            startTLSAfterInfo: Bool, secured: EventLoopPromise<Void>
        ) {
            self.received = received
            self.presented = presented
            self.context = context
            self.startTLSAfterInfo = startTLSAfterInfo
            self.secured = secured
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event {
                let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                let certificate = (try? handler?.peerCertificate?.toDERBytes()) ?? nil
                self.presented.withLockedValue { $0 = certificate ?? [] }
                self.secured.succeed()
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.secured.fail(error)
            context.close(promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: self.unwrapInboundIn(data))
            let total = self.received.withLockedValue {
                $0 += text
                return $0
            }
            if self.startTLSAfterInfo, total.hasPrefix("INFO "), total.contains("\r\n") {
                self.startTLSAfterInfo = false
                let tls = try! NIOSSLClientHandler(context: self.context, serverHostname: nil)
                try! context.pipeline.syncOperations.addHandler(tls, position: .first)
            }
        }
    }
}
