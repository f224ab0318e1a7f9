import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
import WardenAudit
import WardenPKI
import WardenPolicy
import WardenTestSupport

@testable import WardenProxy

/// The first handler of an accepted connection, on an `EmbeddedChannel`: it only carries out what the
/// admission state machine decides.
struct AdmissionHandlerTests {
    /// A Warden with its own CA and decision log, not started (no listener).
    static func warden(in folder: TemporaryDirectory) throws -> ProxyServer {
        let layout = CertsLayout(root: folder.appending("certs"))
        _ = try CertificateAuthority.initialize(layout: layout, trustDomain: "handler.test")
        let configuration = ProxyConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, upstreams: [.init(host: "127.0.0.1", port: 1)], certs: layout)
        return try ProxyServer(
            configuration: configuration, credentials: CredentialStore(layout: layout),
            policy: PolicySnapshot(services: []),
            log: DecisionLog(path: folder.appending("decisions.jsonl"), logger: Logger(label: "test")),
            group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
    }

    static func channel(_ warden: ProxyServer) async throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let attempt = ConnectionAttempt(context: warden.admission, channel: channel)
        try channel.pipeline.syncOperations.addHandler(ClientAdmissionHandler(attempt: attempt))
        // Active, as an accepted connection is.
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).get()
        return channel
    }

    static func records(_ warden: ProxyServer, in folder: TemporaryDirectory) async throws -> [DecisionLogEntry] {
        await warden.sink.log.flush()
        let text = (try? String(contentsOfFile: folder.appending("decisions.jsonl"), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try DecisionLogEntry(line: Data($0.utf8)) }
    }

    @Test func aClientThatWaitsGetsINFOInPlainTextAfterTheWindow() async throws {
        let folder = try TemporaryDirectory()
        let warden = try Self.warden(in: folder)
        let channel = try await Self.channel(warden)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: warden.configuration.handshakeFirstWindow)
        let info = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: info).hasPrefix("INFO {") && String(buffer: info).contains(#""tls_required":true"#))
        #expect(channel.isActive)
        _ = try? channel.finish()
        await warden.sink.log.stop()
    }

    @Test func plaintextGetsNatsServersErrorIsClosedAndRecordedOnce() async throws {
        let folder = try TemporaryDirectory()
        let warden = try Self.warden(in: folder)
        let channel = try await Self.channel(warden)
        try channel.writeInbound(ByteBuffer(string: "CONNECT {}\r\nPUB orders.created 1\r\nx\r\n"))
        let error = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: error) == "-ERR 'Secure Connection - TLS Required'\r\n")
        #expect(!channel.isActive)
        // Its deadline and its close come after the refusal, and add nothing.
        channel.embeddedEventLoop.advanceTime(by: warden.configuration.handshakeTimeout)
        let records = try await Self.records(warden, in: folder)
        #expect(records.count == 1)
        #expect(records.first?.op == .connect && records.first?.decision == .deny)
        #expect(records.first?.reason == "plaintext connection: TLS is required")
        await warden.sink.log.stop()
    }

    @Test func aClientThatSendsNothingIsRefusedAtTheHandshakeTimeout() async throws {
        let folder = try TemporaryDirectory()
        let warden = try Self.warden(in: folder)
        let channel = try await Self.channel(warden)
        channel.embeddedEventLoop.advanceTime(by: warden.configuration.handshakeTimeout)
        #expect(!channel.isActive)
        let records = try await Self.records(warden, in: folder)
        #expect(records.map(\.reason) == ["no verified TLS session within \(warden.configuration.handshakeTimeout)"])
        await warden.sink.log.stop()
    }
}
