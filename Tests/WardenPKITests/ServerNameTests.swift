import Foundation
import Testing
import WardenPKI
import WardenTestSupport
import X509

/// How a host Warden dials by name must appear in nats-server's certificate.
@Suite struct ServerNameTests {
    let certificate: Certificate

    init() throws {
        let directory = try TemporaryDirectory()
        let layout = CertsLayout(root: directory.appending("certs"))
        let authority = try CertificateAuthority.initialize(layout: layout, trustDomain: "test.warden")
        try authority.issueNATSServerCertificate(hosts: ["Nats.Example.com", "*.cluster.example.com", "10.0.0.5"])
        self.certificate = try Certificate(pemEncoded: String(contentsOfFile: layout.natsCertificate, encoding: .utf8))
    }

    @Test(arguments: [
        // Exact names, in any ASCII case, with or without the root's trailing dot.
        ("nats.example.com", true), ("NATS.EXAMPLE.COM", true), ("nats.example.com.", true),
        // A wildcard stands for exactly the left-most label.
        ("a.cluster.example.com", true), ("cluster.example.com", false), ("a.b.cluster.example.com", false),
        // Other names, and addresses: an IP SAN names an address, never a host name.
        ("example.com", false), ("nats.example.com.evil", false), ("10.0.0.5", false), ("", false),
    ])
    func aHostIsNamedOnlyByTheCertificatesDNSNames(host: String, named: Bool) throws {
        #expect(ServerName.certificate(self.certificate, names: host) == named)
        #expect(ServerName.certificate(der: try self.certificate.serializeAsPEM().derBytes, names: host) == named)
    }

    @Test func bytesThatAreNotACertificateNameNothing() {
        #expect(!ServerName.certificate(der: [0x30, 0x03, 0x02, 0x01, 0x01], names: "nats.example.com"))
    }
}
