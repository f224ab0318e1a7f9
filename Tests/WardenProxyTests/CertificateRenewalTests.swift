import Foundation
import NIOSSL
import Testing
import WardenDevelopment
import WardenPKI
import WardenTestSupport

/// Warden's own certificates renewed (`warden renew`) and reloaded into a running Warden (SIGHUP):
/// new connections get the new ones, live connections go on, and files that do not load change nothing.
@Suite(.serialized)
struct CertificateRenewalTests {
    /// The listener certificate a new client of `warden` is shown.
    func presented(_ warden: ProxyHarness) async throws -> [UInt8] {
        let folder = warden.layout.serviceDirectory("orders")
        let client = try await WireClient.connect(
            port: warden.port, start: .infoFirst, certificate: folder + "/cert.pem", key: folder + "/key.pem",
            ca: warden.layout.caCertificate, group: ProxyHarness.group)
        defer { Task { await client.close() } }
        return try await client.serverCertificate()
    }

    func onFile(_ path: String) throws -> [UInt8] {
        try NIOSSLCertificate.fromPEMFile(path)[0].toDERBytes()
    }

    /// When the certificate in the file expires, in whole seconds since 1970, as it says.
    func notAfter(_ path: String) throws -> Int {
        Int(try NIOSSLCertificate.fromPEMFile(path)[0].notValidAfter)
    }

    func notAfterMetric(_ warden: ProxyHarness, _ certificate: String) -> Int? {
        String(decoding: warden.server.metricsExposition(), as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("warden_certificate_not_after_timestamp_seconds{certificate=\"\(certificate)\"}") }
            .flatMap { Double($0.split(separator: " ").last ?? "").map { Int($0) } }
    }

    @Test func renewedCertificatesServeNewConnectionsAfterAReloadAndLiveOnesGoOn() async throws {
        try await withWarden { warden in
            let before = try self.onFile(warden.layout.serverCertificate)
            #expect(try await self.presented(warden) == before)
            let live = try warden.client("orders")
            let subscription = try live.subscribe("orders.>")
            try live.flush()

            let renewed = try warden.authority.renewWardenCertificates()
            let after = try self.onFile(warden.layout.serverCertificate)
            #expect(after != before)
            // Renewed on disk, not yet in use.
            #expect(try await self.presented(warden) == before)

            #expect(warden.server.reloadCertificates())
            #expect(try await self.presented(warden) == after)
            #expect(self.notAfterMetric(warden, "listener") == (try self.notAfter(warden.layout.serverCertificate)))
            #expect(self.notAfterMetric(warden, "upstream") == (try self.notAfter(warden.layout.upstreamCertificate)))
            #expect(
                abs(
                    Double(try self.notAfter(warden.layout.serverCertificate))
                        - renewed.listener.notAfter.timeIntervalSince1970) <= 1)
            // New connections reach nats-server with the renewed upstream identity, and the live one
            // never noticed.
            let fresh = try warden.client("payments")
            try fresh.publish("payments.done", "through the renewed certificates")
            try fresh.flush()
            try live.publish("orders.created", "still connected")
            try live.flush()
            #expect(subscription.next(timeoutMilliseconds: 2000)?.text == "still connected")
            #expect(!live.isClosed)
        }
    }

    @Test func certificatesThatDoNotLoadAreReportedAndTheOnesInUseAreKept() async throws {
        try await withWarden { warden in
            let inUse = try self.onFile(warden.layout.serverCertificate)
            let notAfter = self.notAfterMetric(warden, "listener")
            #expect(notAfter != nil)
            // A key that is not the certificate's: the state between two files of a hand-made change.
            let upstreamKey = try String(contentsOfFile: warden.layout.upstreamKey, encoding: .utf8)
            try warden.authority.renewWardenCertificates()
            try upstreamKey.write(toFile: warden.layout.serverKey, atomically: true, encoding: .utf8)
            #expect(!warden.server.reloadCertificates())
            #expect(try await self.presented(warden) == inUse)
            #expect(self.notAfterMetric(warden, "listener") == notAfter)

            try FileManager.default.removeItem(atPath: warden.layout.serverCertificate)
            #expect(!warden.server.reloadCertificates())
            let client = try warden.client("orders")
            try client.flush()
        }
    }

    /// The hex SHA-256 of the certificate's public key (its DER SubjectPublicKeyInfo), as nats-server's
    /// `pinned_certs` takes it; computed by the openssl command line, independently of Warden.
    func publicKeyPin(_ certificate: String, in directory: TemporaryDirectory) throws -> String {
        let spki = directory.appending("spki-\(UUID().uuidString).der")
        let key = try NIOSSLCertificate.fromPEMFile(certificate)[0].extractPublicKey()
        try Data(try key.toSPKIBytes()).write(to: URL(fileURLWithPath: spki))
        let digest = try OpenSSL.run(["dgst", "-sha256", "-r", spki])
        #expect(digest.status == 0, "\(digest.output)")
        return String(digest.output.prefix { $0 != " " })
    }

    /// nats-server restarted to admit only the renewed upstream identity (pinned by its public key):
    /// Warden's audit events' connection and its data path both come back, so both took it up.
    @Test func theAuditEventsConnectionAndTheDataPathTakeUpTheRenewedIdentity() async throws {
        try await withWarden(auditEvents: true) { warden in
            let audit = try #require(warden.audit)
            #expect(await eventually(timeout: .seconds(10)) { audit.isConnected })
            try warden.authority.renewWardenCertificates()
            #expect(warden.server.reloadCertificates())
            // The audit thread takes the renewed identity up between batches.
            #expect(await eventually(timeout: .seconds(10)) { audit.renewals == 1 })

            let pin = try self.publicKeyPin(warden.layout.upstreamCertificate, in: warden.directory)
            #expect(pin.count == 64)
            let config = NATSServerConfig.render(authority: warden.authority, host: "127.0.0.1", port: warden.nats.port)
                .replacingOccurrences(of: "  timeout: 5\n", with: "  timeout: 5\n  pinned_certs: [\"\(pin)\"]\n")
            #expect(config.contains("pinned_certs"))
            warden.nats.stop()
            #expect(await eventually(timeout: .seconds(10)) { !audit.isConnected })
            let pinned = try NATSServerProcess(config: config, port: warden.nats.port, directory: warden.directory)
            defer { pinned.stop() }

            #expect(await eventually(timeout: .seconds(15)) { audit.isConnected }, "\(pinned.log)")
            let orders = try warden.client("orders")
            try orders.publish("orders.created", "through the renewed upstream identity")
            try orders.flush()
        }
    }
}
