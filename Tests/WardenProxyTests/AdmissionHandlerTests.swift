import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing
import WardenAudit
import WardenPKI
import WardenPolicy
import WardenTestSupport

@testable import WardenProxy

/// The first handler of an accepted connection, on an `EmbeddedChannel`: it only carries out what the
/// admission state machine decides.
struct AdmissionHandlerTests {
    /// A Warden environment with its own CA and decision log, no listener.
    static func environment(in folder: TemporaryDirectory) throws -> ProxyEnvironment {
        let layout = CertsLayout(root: folder.appending("certs"))
        _ = try CertificateAuthority.initialize(layout: layout, trustDomain: "handler.test")
        let configuration = ProxyConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, upstreams: [.init(host: "127.0.0.1", port: 1)], certs: layout)
        return try ProxyEnvironment(
            configuration: configuration, credentials: CredentialStore(layout: layout),
            policy: PolicySnapshot(services: []),
            log: DecisionLog(path: folder.appending("decisions.jsonl"), logger: Logger(label: "test")), audit: nil,
            logger: Logger(label: "test"))
    }

    static func channel(_ env: ProxyEnvironment) async throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let attempt = ConnectionAttempt(env: env, channel: channel)
        try channel.pipeline.syncOperations.addHandler(ClientAdmissionHandler(attempt: attempt))
        // Active, as an accepted connection is.
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).get()
        return channel
    }

    static func records(_ env: ProxyEnvironment, in folder: TemporaryDirectory) async throws -> [DecisionLogEntry] {
        await env.log.flush()
        let text = (try? String(contentsOfFile: folder.appending("decisions.jsonl"), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try DecisionLogEntry(line: Data($0.utf8)) }
    }

    @Test func aClientThatWaitsGetsINFOInPlainTextAfterTheWindow() async throws {
        let folder = try TemporaryDirectory()
        let env = try Self.environment(in: folder)
        let channel = try await Self.channel(env)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: env.configuration.handshakeFirstWindow)
        let info = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: info).hasPrefix("INFO {") && String(buffer: info).contains(#""tls_required":true"#))
        #expect(channel.isActive)
        _ = try? channel.finish()
        await env.log.stop()
    }

    @Test func plaintextGetsNatsServersErrorIsClosedAndRecordedOnce() async throws {
        let folder = try TemporaryDirectory()
        let env = try Self.environment(in: folder)
        let channel = try await Self.channel(env)
        try channel.writeInbound(ByteBuffer(string: "CONNECT {}\r\nPUB orders.created 1\r\nx\r\n"))
        let error = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: error) == "-ERR 'Secure Connection - TLS Required'\r\n")
        #expect(!channel.isActive)
        // Its deadline and its close come after the refusal, and add nothing.
        channel.embeddedEventLoop.advanceTime(by: env.configuration.handshakeTimeout)
        let records = try await Self.records(env, in: folder)
        #expect(records.count == 1)
        #expect(records.first?.op == .connect && records.first?.decision == .deny)
        #expect(records.first?.reason == "plaintext connection: TLS is required")
        await env.log.stop()
    }

    @Test func aClientThatSendsNothingIsRefusedAtTheHandshakeTimeout() async throws {
        let folder = try TemporaryDirectory()
        let env = try Self.environment(in: folder)
        let channel = try await Self.channel(env)
        channel.embeddedEventLoop.advanceTime(by: env.configuration.handshakeTimeout)
        #expect(!channel.isActive)
        let records = try await Self.records(env, in: folder)
        #expect(records.map(\.reason) == ["no verified TLS session within \(env.configuration.handshakeTimeout)"])
        await env.log.stop()
    }
}
