import Logging
import NATSProtocol
import NIOCore
import NIOEmbedded
import Testing
import WardenTestSupport

@testable import WardenProxy

/// A session's connection to nats-server without a network, and its handler on `EmbeddedChannel`s.
struct UpstreamStateMachineTests {
    var machine = UpstreamStateMachine()

    static func frame(_ text: String) -> Result<Frame<ServerOperation>?, NATSProtocolError> {
        var parser = NATSServerParser()
        var buffer = ByteBuffer(string: text)
        return Result { () throws(NATSProtocolError) in try parser.next(&buffer) }
    }

    @Test mutating func nATSServersINFOStartsTLSAndTheHandshakeMakesItReady() {
        #expect(
            self.machine.plaintext(Self.frame("INFO {\"version\":\"2.15.1\"}\r\n"), moreBytes: false)
                == .startTLS(infoJSON: "{\"version\":\"2.15.1\"}"))
        #expect(self.machine.handshakeCompleted(namesHost: true, host: "nats") == .ready)
        #expect(self.machine.traffic() == .forward(firstTraffic: true))
        #expect(self.machine.traffic() == .forward(firstTraffic: false))
    }

    @Test mutating func aPartialINFOWaitsForTheRest() {
        #expect(self.machine.plaintext(Self.frame("INFO {\"ver"), moreBytes: true) == .none)
        #expect(self.machine.state == .awaitingInfo)
    }

    @Test func anythingButOneINFOBeforeTLSIsNotNATSServer() {
        var other = UpstreamStateMachine()
        #expect(
            other.plaintext(Self.frame("PING\r\n"), moreBytes: false) == .fail("nats-server did not start with INFO"))
        var more = UpstreamStateMachine()
        #expect(
            more.plaintext(Self.frame("INFO {}\r\n"), moreBytes: true)
                == .fail("nats-server sent data before the TLS handshake completed"))
        var garbage = UpstreamStateMachine()
        guard case .fail(let reason) = garbage.plaintext(Self.frame("HELLO\r\n"), moreBytes: false) else {
            Issue.record("garbage before TLS must fail the connection")
            return
        }
        #expect(reason.hasPrefix("nats-server broke the protocol"))
        // Not a TLS failure: the pool counts the server as failed, not as untrustworthy.
        #expect(garbage.state == .failed(duringHandshake: false))
    }

    @Test mutating func aCertificateThatDoesNotNameTheHostFailsAndNothingFollows() {
        _ = self.machine.plaintext(Self.frame("INFO {}\r\n"), moreBytes: false)
        #expect(
            self.machine.handshakeCompleted(namesHost: false, host: "nats.internal")
                == .fail("nats-server's certificate does not name nats.internal (DNS names only)"))
        #expect(self.machine.state == .failed(duringHandshake: true))
        #expect(self.machine.traffic() == .none)
        #expect(self.machine.failed("late") == .none)
    }

    @Test func theHandlerEndsTheClientsConnectionWhenTheUpstreamIsNotNATSServer() async throws {
        let folder = try TemporaryDirectory()
        let warden = try AdmissionHandlerTests.warden(in: folder)
        let client = EmbeddedChannel(loop: EmbeddedEventLoop())
        try await client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40001)).get()
        let session = warden.admission.sessions.makeSession(
            service: "orders", policy: nil, conn: 1, peer: "127.0.0.1:40001", channel: client,
            logger: Logger(label: "test"))
        let upstream = EmbeddedChannel(
            handler: UpstreamHandler(session: session, server: UpstreamEndpoint(.init(host: "127.0.0.1", port: 4222))),
            loop: client.embeddedEventLoop)
        try await upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4222)).get()
        try upstream.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n"))
        // Closed without a word, which NATS clients answer by reconnecting.
        #expect(!client.isActive)
        #expect(try client.readOutbound(as: ByteBuffer.self) == nil)
        let metrics = String(
            decoding: warden.sink.metrics.exposition(openConnections: [:], logWritten: 0, logBacklog: 0), as: UTF8.self)
        #expect(metrics.contains("warden_upstream_failures_total 1"))
        await warden.sink.log.stop()
    }
}
