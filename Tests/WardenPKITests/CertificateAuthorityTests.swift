import Foundation
import Testing
import WardenPKI
import WardenTestSupport
import X509

@Suite struct CertificateAuthorityTests {
    let directory: TemporaryDirectory
    let layout: CertsLayout
    let authority: CertificateAuthority

    init() throws {
        self.directory = try TemporaryDirectory()
        self.layout = CertsLayout(root: self.directory.appending("certs"))
        self.authority = try CertificateAuthority.initialize(layout: self.layout, trustDomain: "prod.example.com")
    }

    @Test func initCreatesAVerifiableCAAndWardensCertificates() throws {
        let ca = try OpenSSL.text(of: self.layout.caCertificate)
        #expect(ca.contains("CA:TRUE"))
        #expect(ca.contains("Certificate Sign"))
        #expect(ca.contains("Name Constraints: critical"))
        #expect(ca.contains("URI:prod.example.com"))
        #expect(ca.contains("ASN1 OID: prime256v1"))

        let server = try OpenSSL.text(of: self.layout.serverCertificate)
        #expect(try OpenSSL.verify(self.layout.serverCertificate, caFile: self.layout.caCertificate).ok)
        #expect(server.contains("TLS Web Server Authentication"))
        #expect(server.contains("DNS:localhost"))
        #expect(server.contains("IP Address:127.0.0.1"))
        #expect(server.contains("IP Address:0:0:0:0:0:0:0:1"))
        #expect(!server.contains("TLS Web Client Authentication"))

        let client = try OpenSSL.text(of: self.layout.upstreamCertificate)
        #expect(try OpenSSL.verify(self.layout.upstreamCertificate, caFile: self.layout.caCertificate).ok)
        #expect(client.contains("URI:spiffe://prod.example.com/warden"))
        #expect(client.contains("TLS Web Client Authentication"))
    }

    @Test func keysAreOwnerOnly() throws {
        for key in [self.layout.caKey, self.layout.serverKey, self.layout.upstreamKey] {
            #expect(try fileMode(key) == 0o600, "\(key)")
        }
        #expect(try fileMode(self.layout.caDirectory) == 0o700)
        #expect(try fileMode(self.layout.wardenDirectory) == 0o700)
    }

    @Test func customSANsGoOnTheListenerCertificate() throws {
        let other = CertsLayout(root: self.directory.appending("other"))
        try CertificateAuthority.initialize(layout: other, sans: ["warden.internal", "10.0.0.7", "::1"])
        let text = try OpenSSL.text(of: other.serverCertificate)
        #expect(text.contains("DNS:warden.internal"))
        #expect(text.contains("IP Address:10.0.0.7"))
        #expect(text.contains("IP Address:0:0:0:0:0:0:0:1"))
        #expect(!text.contains("DNS:localhost"))
    }

    @Test func renewingReissuesWardensCertificatesWithNewKeysAndKeepsTheListenersNames() throws {
        let other = CertsLayout(root: self.directory.appending("renewed"))
        let authority = try CertificateAuthority.initialize(
            layout: other, sans: ["warden.internal", "10.0.0.7", "::1"])
        let files = [other.serverCertificate, other.serverKey, other.upstreamCertificate, other.upstreamKey]
        let before = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let renewed = try authority.renewWardenCertificates()
        #expect(renewed.names == ["warden.internal", "10.0.0.7", "::1"])
        let after = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
        for (file, (old, new)) in zip(files, zip(before, after)) { #expect(old != new, "\(file)") }
        #expect(try fileMode(other.serverKey) == 0o600)
        #expect(try fileMode(other.upstreamKey) == 0o600)

        let server = try OpenSSL.text(of: other.serverCertificate)
        #expect(try OpenSSL.verify(other.serverCertificate, caFile: other.caCertificate).ok)
        #expect(server.contains("DNS:warden.internal"))
        #expect(server.contains("IP Address:10.0.0.7"))
        #expect(server.contains("IP Address:0:0:0:0:0:0:0:1"))
        let client = try OpenSSL.text(of: other.upstreamCertificate)
        #expect(try OpenSSL.verify(other.upstreamCertificate, caFile: other.caCertificate).ok)
        #expect(client.contains("URI:spiffe://\(CertificateAuthority.defaultTrustDomain)/warden"))
        // Both old and new are in the inventory: the old ones stay valid until they expire.
        let inventory = try Inventory.load(from: other.inventory)
        #expect(inventory.certificates.filter { $0.kind == .wardenServer }.count == 2)
        #expect(inventory.entry(serial: renewed.listener.serial)?.kind == .wardenServer)
        #expect(inventory.entry(serial: renewed.upstream.serial)?.kind == .wardenClient)

        // Other names, when given; names that are neither are refused before anything is written.
        try authority.renewWardenCertificates(sans: ["warden.prod"])
        #expect(try OpenSSL.text(of: other.serverCertificate).contains("DNS:warden.prod"))
        let current = try String(contentsOfFile: other.serverCertificate, encoding: .utf8)
        #expect(throws: PKIError(.invalidName, "")) { try authority.renewWardenCertificates(sans: ["bad name"]) }
        #expect(try String(contentsOfFile: other.serverCertificate, encoding: .utf8) == current)
    }

    @Test func enrollIssuesAServiceCredential() throws {
        let entry = try self.authority.enroll(service: "orders", lifetime: .seconds(3600))
        let folder = self.layout.serviceDirectory("orders")
        let certificate = "\(folder)/cert.pem"
        let verified = try OpenSSL.verify(certificate, caFile: "\(folder)/ca.pem")
        #expect(verified.ok, "\(verified.output)")
        let text = try OpenSSL.text(of: certificate)
        #expect(text.contains("URI:spiffe://prod.example.com/service/orders"))
        #expect(text.contains("CN = orders") || text.contains("CN=orders"))
        #expect(text.contains("TLS Web Client Authentication"))
        #expect(!text.contains("TLS Web Server Authentication"))
        #expect(text.contains("CA:FALSE"))
        #expect(try fileMode("\(folder)/key.pem") == 0o600)
        #expect(try fileMode(folder) == 0o700)
        // The key on disk belongs to the certificate.
        let keyModulus = try OpenSSL.run(["pkey", "-in", "\(folder)/key.pem", "-pubout"]).output
        let certificateKey = try OpenSSL.run(["x509", "-in", certificate, "-noout", "-pubkey"]).output
        #expect(keyModulus == certificateKey)
        // Recorded, with the lifetime asked for.
        let inventory = try Inventory.load(from: self.layout.inventory)
        let recorded = try #require(inventory.entry(serial: entry.serial))
        #expect(recorded.service == "orders")
        #expect(!recorded.revoked)
        #expect(abs(recorded.notAfter.timeIntervalSinceNow - 3600) < 60)
    }

    @Test func enrollingAgainRotatesTheCredential() throws {
        let first = try self.authority.enroll(service: "orders")
        let firstKey = try String(contentsOfFile: "\(self.layout.serviceDirectory("orders"))/key.pem", encoding: .utf8)
        let second = try self.authority.enroll(service: "orders")
        let secondKey = try String(contentsOfFile: "\(self.layout.serviceDirectory("orders"))/key.pem", encoding: .utf8)
        #expect(first.serial != second.serial)
        #expect(firstKey != secondKey)
        #expect(
            try Inventory.load(from: self.layout.inventory).certificates.filter { $0.service == "orders" }.count == 2)
    }

    @Test func revokeMarksEveryCredentialOfTheService() throws {
        try self.authority.enroll(service: "orders")
        try self.authority.enroll(service: "orders")
        try self.authority.enroll(service: "payments")
        let revoked = try self.authority.revoke(service: "orders")
        #expect(revoked.count == 2)
        let inventory = try Inventory.load(from: self.layout.inventory)
        #expect(
            inventory.certificates.filter { $0.service == "orders" }.allSatisfy { $0.revoked && $0.revokedAt != nil })
        #expect(inventory.certificates.filter { $0.service == "payments" }.allSatisfy { !$0.revoked })
        #expect(try self.authority.revoke(service: "orders").isEmpty)  // idempotent
    }

    @Test func theNATSServerCertificateIsForItsHosts() throws {
        try self.authority.issueNATSServerCertificate(hosts: ["nats.internal", "127.0.0.1"])
        let text = try OpenSSL.text(of: self.layout.natsCertificate)
        #expect(try OpenSSL.verify(self.layout.natsCertificate, caFile: self.layout.caCertificate).ok)
        #expect(text.contains("DNS:nats.internal"))
        #expect(text.contains("TLS Web Server Authentication"))
        #expect(try fileMode(self.layout.natsKey) == 0o600)
    }
}

/// Bad input gets a clear error and changes nothing.
@Suite struct CertificateAuthorityErrorTests {
    let directory: TemporaryDirectory
    let layout: CertsLayout

    init() throws {
        self.directory = try TemporaryDirectory()
        self.layout = CertsLayout(root: self.directory.appending("certs"))
        try CertificateAuthority.initialize(layout: self.layout)
    }

    /// Every file in the certs folder with its content, to show an operation changed nothing.
    func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: self.layout.root)
        while let path = enumerator?.nextObject() as? String {
            let full = "\(self.layout.root)/\(path)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return files
    }

    @Test func initOverAnExistingCAIsRefused() throws {
        let before = try self.snapshot()
        let error = #expect(throws: PKIError.self) { try CertificateAuthority.initialize(layout: self.layout) }
        #expect(error?.code == .alreadyInitialized)
        // The library names no flag: the command line adds its hint by code (`ErrorHints`).
        #expect(error?.message.contains("--") == false)
        #expect(try self.snapshot() == before)
        // With force it is replaced.
        try CertificateAuthority.initialize(layout: self.layout, force: true)
        #expect(try self.snapshot()["ca/ca.pem"] != before["ca/ca.pem"])
    }

    @Test(arguments: ["", "orders.v2", "a b", "../etc", String(repeating: "x", count: 65)])
    func invalidServiceNamesAreRefused(_ name: String) throws {
        let before = try self.snapshot()
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority.load(layout: self.layout).enroll(service: name)
        }
        #expect(error?.code == .invalidName)
        #expect(try self.snapshot() == before)
    }

    @Test func aLifetimeBeyondTheCAIsRefused() throws {
        let before = try self.snapshot()
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority.load(layout: self.layout).enroll(
                service: "orders", lifetime: .seconds(20 * 365 * 86400))
        }
        #expect(error?.code == .invalidLifetime)
        #expect(try self.snapshot() == before)
    }

    @Test func revokingAnUnknownServiceIsAnError() throws {
        let before = try self.snapshot()
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority.load(layout: self.layout).revoke(service: "ghost")
        }
        #expect(error?.code == .unknownService)
        #expect(try self.snapshot() == before)
    }

    @Test func aCorruptCAIsReportedAndItsKeyIsNeverShown() throws {
        try "-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----\n"
            .write(toFile: self.layout.caKey, atomically: true, encoding: .utf8)
        let error = #expect(throws: PKIError.self) { try CertificateAuthority.load(layout: self.layout) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("not really a key") == false)

        try "garbage".write(toFile: self.layout.caCertificate, atomically: true, encoding: .utf8)
        #expect(throws: PKIError(.corrupt, "")) { try CertificateAuthority.load(layout: self.layout) }
    }

    @Test func aKeyFromAnotherCAIsRefused() throws {
        let other = CertsLayout(root: self.directory.appending("other"))
        try CertificateAuthority.initialize(layout: other)
        try FileManager.default.removeItem(atPath: self.layout.caKey)
        try FileManager.default.copyItem(atPath: other.caKey, toPath: self.layout.caKey)
        let error = #expect(throws: PKIError.self) { try CertificateAuthority.load(layout: self.layout) }
        #expect(error?.message.contains("does not belong") == true)
    }

    /// The library names the file it could not read; the code is what `warden` turns into "run `warden
    /// init` first" (`WardenCLITests.errorsComeWithTheCommandLinesHint`).
    @Test func aMissingCAIsReportedAsNotInitialized() throws {
        let layout = CertsLayout(root: self.directory.appending("none"))
        let error = #expect(throws: PKIError.self) { try CertificateAuthority.load(layout: layout) }
        #expect(error?.code == .notInitialized)
        #expect(error?.message.contains(layout.caCertificate) == true, "\(error?.message ?? "")")
    }

    @Test func anUnwritableFolderIsReported() throws {
        // A path below a regular file cannot be created, even by root.
        let file = self.directory.appending("file")
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority.initialize(layout: CertsLayout(root: "\(file)/certs"))
        }
        #expect(error?.code == .io)
    }

    @Test(arguments: ["Prod.Example", "a b", "", "x..y"])
    func badTrustDomainsAreRefused(_ domain: String) throws {
        let layout = CertsLayout(root: self.directory.appending("td"))
        #expect(throws: PKIError(.invalidName, "")) {
            try CertificateAuthority.initialize(layout: layout, trustDomain: domain)
        }
        #expect(!FileManager.default.fileExists(atPath: layout.root))
    }

    @Test func badSANsAreRefused() throws {
        let layout = CertsLayout(root: self.directory.appending("san"))
        #expect(throws: PKIError(.invalidName, "")) {
            try CertificateAuthority.initialize(layout: layout, sans: ["bad name"])
        }
        #expect(!FileManager.default.fileExists(atPath: layout.root))
    }
}
