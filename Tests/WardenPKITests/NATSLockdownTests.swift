import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenPKI
import WardenTestSupport

/// A real nats-server running the config `warden nats-config` prints admits Warden's identity and
/// nobody else: not a service, not another CA, not a plaintext client.
@Suite(.serialized) struct NATSLockdownTests {
    let directory: TemporaryDirectory
    let layout: CertsLayout
    let server: NATSServerProcess

    init() throws {
        self.directory = try TemporaryDirectory()
        self.layout = CertsLayout(root: self.directory.appending("certs"))
        let authority = try CertificateAuthority.initialize(layout: self.layout)
        try authority.enroll(service: "orders")
        try authority.issueNATSServerCertificate(hosts: ["localhost", "127.0.0.1"])
        let port = try Loopback.freePort()
        self.server = try NATSServerProcess(
            config: NATSServerConfig.render(authority: authority, host: "127.0.0.1", port: port), port: port,
            directory: self.directory)
    }

    func options(certificate: String?, key: String?, ca: String? = nil) -> NATSClient.Options {
        NATSClient.Options(
            url: "tls://127.0.0.1:\(self.server.port)", caFile: ca ?? self.layout.caCertificate,
            certificateFile: certificate, keyFile: key)
    }

    @Test func wardensIdentityIsAccepted() throws {
        let client = try NATSClient(
            self.options(certificate: self.layout.upstreamCertificate, key: self.layout.upstreamKey))
        let subscription = try client.subscribe("lockdown.test")
        try client.publish("lockdown.test", "hello")
        try client.flush()
        #expect(subscription.next()?.text == "hello")
    }

    @Test func aServiceCertificateIsRefused() throws {
        let folder = self.layout.serviceDirectory("orders")
        let error = #expect(throws: NATSClient.Failure.self) {
            try NATSClient(self.options(certificate: "\(folder)/cert.pem", key: "\(folder)/key.pem"))
        }
        #expect(error?.description.contains("Authorization Violation") == true, "\(String(describing: error))")
    }

    @Test func aCertificateFromAnotherCAIsRefused() throws {
        let other = CertsLayout(root: self.directory.appending("other"))
        try CertificateAuthority.initialize(layout: other)
        #expect(throws: NATSClient.Failure.self) {
            try NATSClient(self.options(certificate: other.upstreamCertificate, key: other.upstreamKey))
        }
        #expect(self.server.log.contains("TLS handshake error"))
    }

    @Test func aClientWithoutACertificateIsRefused() throws {
        #expect(throws: NATSClient.Failure.self) { try NATSClient(self.options(certificate: nil, key: nil)) }
    }

    @Test func aPlaintextClientGetsNothing() throws {
        let connection = try RawConnection(port: self.server.port)
        let info = connection.receive(for: 0.5).text
        #expect(info.contains("\"tls_required\":true"))
        connection.send("CONNECT {\"verbose\":false}\r\nPING\r\nPUB lockdown.test 2\r\nhi\r\n")
        let reply = connection.receive(for: 3)
        #expect(!reply.text.contains("PONG"))
        #expect(reply.closedByPeer)
    }

    /// Each Warden instance may have its own upstream identity; nats-config maps those the inventory holds
    /// when it runs, and no other.
    @Test func eachMappedInstanceIdentityIsAcceptedAndOneIssuedLaterIsNot() throws {
        let folder = try TemporaryDirectory()
        let layout = CertsLayout(root: folder.appending("certs"))
        let authority = try CertificateAuthority.initialize(layout: layout)
        try authority.issueNATSServerCertificate(hosts: ["127.0.0.1"])
        try authority.renewWardenCertificates(instance: "warden-1")
        for (from, to) in [(layout.upstreamCertificate, "w1.pem"), (layout.upstreamKey, "w1-key.pem")] {
            try FileManager.default.copyItem(atPath: from, toPath: folder.appending(to))
        }
        #expect(
            try authority.wardenIdentities() == [
                "spiffe://warden.local/warden", "spiffe://warden.local/warden/warden-1",
            ])
        let port = try Loopback.freePort()
        let server = try NATSServerProcess(
            config: NATSServerConfig.render(authority: authority, host: "127.0.0.1", port: port), port: port,
            directory: folder)
        defer { server.stop() }
        func options(_ certificate: String, _ key: String) -> NATSClient.Options {
            NATSClient.Options(
                url: "tls://127.0.0.1:\(port)", caFile: layout.caCertificate, certificateFile: certificate, keyFile: key
            )
        }
        let first = try NATSClient(options(folder.appending("w1.pem"), folder.appending("w1-key.pem")))
        try first.flush()
        first.close()
        // Issued after nats-server's configuration was written: not admitted until it is written again.
        try authority.renewWardenCertificates(instance: "warden-2")
        let error = #expect(throws: NATSClient.Failure.self) {
            try NATSClient(options(layout.upstreamCertificate, layout.upstreamKey))
        }
        #expect(error?.description.contains("Authorization Violation") == true, "\(String(describing: error))")
    }
}
