import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One of many load clients: an mTLS connection to Warden (TLS first, as nats-server's
/// `handshake_first`) or to nats-server (INFO first, its default) that sends CONNECT, one SUB and a PING, counts the messages it receives, and
/// when the connection closes reconnects as nats.c and nats.go do by default over TLS: after 2 s and a
/// random jitter of up to 1 s. Speaking the protocol itself on an event loop, a worker process holds
/// thousands of them; nats.c would need two threads for each.
final class LoadClient: @unchecked Sendable {
    /// What all of a worker's clients have seen.
    struct Counts: Sendable {
        /// Clients whose SUB is in place now (their first PING answered on the current connection).
        var subscribed = 0
        /// Connections that came back after a close.
        var reconnected = 0
        var delivered = 0
        var errors = 0
    }

    static let subject = "bench.fan"
    let counts: NIOLockedValueBox<Counts>
    private let context: NIOSSLContext
    private let port: Int
    /// Read the server's INFO in plain text before starting TLS (nats-server), or start TLS at once (Warden).
    private let infoFirst: Bool
    private let eventLoop: any EventLoop
    /// Called once, when this client is subscribed the first time (the worker opens the next).
    private let firstReady: @Sendable () -> Void
    // On the event loop only.
    private var hasBeenReady = false
    private var stopping = false
    private var channel: (any Channel)?

    init(
        port: Int, infoFirst: Bool, context: NIOSSLContext, eventLoop: any EventLoop,
        counts: NIOLockedValueBox<Counts>, firstReady: @escaping @Sendable () -> Void
    ) {
        self.port = port
        self.infoFirst = infoFirst
        self.context = context
        self.eventLoop = eventLoop
        self.counts = counts
        self.firstReady = firstReady
    }

    /// Connects (on the event loop).
    func connect() {
        self.eventLoop.assertInEventLoop()
        guard !self.stopping else { return }
        let context = self.context
        let infoFirst = self.infoFirst
        ClientBootstrap(group: self.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if !infoFirst {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(client: self, awaitingInfo: infoFirst ? context : nil))
                }
            }
            .connect(host: "127.0.0.1", port: self.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.channel = channel
                case .failure:
                    self.counts.withLockedValue { $0.errors += 1 }
                    self.reconnectLater()
                }
            }
    }

    func stop() {
        self.eventLoop.execute {
            self.stopping = true
            self.channel?.close(promise: nil)
        }
    }

    private func reconnectLater() {
        guard !self.stopping else { return }
        let wait = 2000 + Int64.random(in: 0..<1000)
        self.eventLoop.scheduleTask(in: .milliseconds(wait)) { self.connect() }
    }

    fileprivate func subscribed() {
        let first = !self.hasBeenReady
        self.hasBeenReady = true
        self.counts.withLockedValue {
            $0.subscribed += 1
            if !first { $0.reconnected += 1 }
        }
        if first { self.firstReady() }
    }

    fileprivate func closed(wasSubscribed: Bool) {
        self.channel = nil
        if wasSubscribed { self.counts.withLockedValue { $0.subscribed -= 1 } }
        self.reconnectLater()
    }

    /// Reads lines: the first PONG means subscribed; MSG lines are counted; PINGs are answered.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let client: LoadClient
        var line: [UInt8] = []
        var subscribed = false
        /// Until the plain-text INFO has come: the TLS context to start the handshake with then.
        var awaitingInfo: NIOSSLContext?

        init(client: LoadClient, awaitingInfo: NIOSSLContext?) {
            self.client = client
            self.awaitingInfo = awaitingInfo
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event {
                let hello =
                    #"CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":"load"}"#
                    + "\r\nSUB \(LoadClient.subject) 1\r\nPING\r\n"
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: hello)), promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let tls = self.awaitingInfo {
                // nats-server's INFO, then the TLS handshake; it sends nothing else before it.
                guard self.unwrapInboundIn(data).readableBytesView.contains(UInt8(ascii: "\n")) else { return }
                self.awaitingInfo = nil
                do {
                    try context.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: nil), position: .first)
                } catch {
                    context.close(promise: nil)
                }
                return
            }
            var delivered = 0
            for byte in self.unwrapInboundIn(data).readableBytesView {
                guard byte == UInt8(ascii: "\n") else {
                    if self.line.count < 64 { self.line.append(byte) }
                    continue
                }
                if self.line.starts(with: Array("MSG ".utf8)) {
                    delivered += 1
                } else if self.line.starts(with: Array("PONG".utf8)), !self.subscribed {
                    self.subscribed = true
                    self.client.subscribed()
                } else if self.line.starts(with: Array("PING".utf8)) {
                    context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil)
                } else if self.line.starts(with: Array("-ERR".utf8)) {
                    self.client.counts.withLockedValue { $0.errors += 1 }
                }
                self.line.removeAll(keepingCapacity: true)
            }
            if delivered > 0 { self.client.counts.withLockedValue { $0.delivered += delivered } }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.client.closed(wasSubscribed: self.subscribed)
            self.subscribed = false
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
