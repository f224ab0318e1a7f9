import Foundation
import Testing
import WardenPKI
import WardenTestSupport
import X509

@Suite struct CredentialVerifierTests {
    let directory: TemporaryDirectory
    let layout: CertsLayout
    let authority: CertificateAuthority
    let verifier: CredentialVerifier

    init() throws {
        self.directory = try TemporaryDirectory()
        self.layout = CertsLayout(root: self.directory.appending("certs"))
        self.authority = try CertificateAuthority.initialize(layout: self.layout, trustDomain: "td.test")
        self.verifier = CredentialVerifier(authority: self.authority)
    }

    func certificate(_ path: String) throws -> Certificate {
        try Certificate(pemEncoded: String(contentsOfFile: path, encoding: .utf8))
    }

    func inventory() throws -> Inventory { try Inventory.load(from: self.layout.inventory) }

    @Test func anEnrolledServiceIsIdentified() throws {
        try self.authority.enroll(service: "orders")
        let result = self.verifier.verify(
            try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem"), inventory: try self.inventory())
        #expect(try result.get() == .service("orders"))
    }

    @Test func wardensOwnIdentityIsIdentified() throws {
        let result = self.verifier.verify(
            try self.certificate(self.layout.upstreamCertificate), inventory: try self.inventory())
        #expect(try result.get() == .warden)
    }

    @Test func aRevokedCredentialIsRefused() throws {
        try self.authority.enroll(service: "orders")
        let certificate = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        try self.authority.revoke(service: "orders")
        #expect(self.failure(certificate) == .revoked)
        // A new enrollment after the revocation is a new, valid credential.
        try self.authority.enroll(service: "orders")
        let fresh = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        #expect(self.failure(fresh) == nil)
    }

    @Test func aCertificateFromAnotherCAIsRefused() throws {
        let other = CertsLayout(root: self.directory.appending("other"))
        try CertificateAuthority.initialize(layout: other, trustDomain: "td.test").enroll(service: "orders")
        #expect(self.failure(try self.certificate("\(other.serviceDirectory("orders"))/cert.pem")) == .untrustedIssuer)
    }

    @Test func expiredAndNotYetValidCredentialsAreRefused() throws {
        try self.authority.enroll(service: "orders", lifetime: .seconds(3600))
        let certificate = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        #expect(self.failure(certificate, now: Date().addingTimeInterval(7200)) == .expired)
        #expect(self.failure(certificate, now: Date().addingTimeInterval(-7200)) == .notYetValid)
    }

    @Test func aServerCertificateIsNotAClientCredential() throws {
        #expect(self.failure(try self.certificate(self.layout.serverCertificate)) == .wrongUsage)
    }

    @Test func aCertificateMissingFromTheInventoryIsRefused() throws {
        try self.authority.enroll(service: "orders")
        let certificate = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        let result = self.verifier.verify(certificate, inventory: Inventory(trustDomain: "td.test"))
        #expect(result.failureCode == .unknownCertificate)
    }

    @Test func anotherTrustDomainIsNoIdentity() throws {
        try self.authority.enroll(service: "orders")
        let certificate = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        let stranger = CredentialVerifier(ca: self.authority.certificate, trustDomain: "elsewhere.test")
        #expect(stranger.verify(certificate, inventory: try self.inventory()).failureCode == .noIdentity)
    }

    @Test func aLiveConnectionsCredentialIsWithdrawnWhenRevokedExpiredOrGoneFromTheInventory() throws {
        let entry = try self.authority.enroll(service: "orders", lifetime: .seconds(3600))
        func withdrawal(now: Date = Date(), inventory: Inventory? = nil) throws -> CredentialVerifier.Failure? {
            CredentialVerifier.withdrawal(
                serial: entry.serial, notAfter: entry.notAfter, inventory: try inventory ?? self.inventory(), now: now)
        }
        #expect(try withdrawal() == nil)
        let expired = try #require(try withdrawal(now: entry.notAfter.addingTimeInterval(1)))
        #expect(expired.code == .expired)
        #expect(expired.reason.hasPrefix("certificate expired at "))
        let gone = try #require(try withdrawal(inventory: Inventory(trustDomain: "td.test")))
        #expect(gone.code == .unknownCertificate)
        #expect(gone.reason == "certificate serial \(entry.serial) is not in the inventory")
        try self.authority.revoke(service: "orders")
        let revoked = try #require(try withdrawal())
        #expect(revoked.code == .revoked)
        #expect(revoked.reason == "certificate serial \(entry.serial) was revoked")
        // Revoked and expired: the revocation is what the operator did, so it is what is said.
        #expect(try withdrawal(now: entry.notAfter.addingTimeInterval(1))?.code == .revoked)
    }

    /// A certificate signed by this Warden's CA for orders, with `extensions`: what a stolen CA key, or a
    /// bug in issuance, could produce.
    func signed(extensions: Certificate.Extensions, notValidAfter: Date? = nil) throws -> Certificate {
        try self.authority.enroll(service: "orders")
        let leaf = try self.certificate("\(self.layout.serviceDirectory("orders"))/cert.pem")
        let caKey = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: self.layout.caKey, encoding: .utf8))
        return try Certificate(
            version: .v3, serialNumber: leaf.serialNumber, publicKey: leaf.publicKey,
            notValidBefore: leaf.notValidBefore, notValidAfter: notValidAfter ?? leaf.notValidAfter,
            issuer: self.authority.certificate.subject,
            subject: leaf.subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: caKey
        )
    }

    @Test func theRFC5280ChecksWardenMakesBeyondIssuerAndValidity() throws {
        let uri = GeneralName.uniformResourceIdentifier("spiffe://td.test/service/orders")
        // As issued, it passes: the forging itself is sound.
        let sound = try self.signed(
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([uri])
            })
        #expect(self.failure(sound) == nil)
        // A key that may not sign.
        let noSigning = try self.signed(
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([uri])
            })
        #expect(self.failure(noSigning) == .wrongUsage)
        // A critical extension Warden does not process.
        var extensions = try Certificate.Extensions {
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
            SubjectAlternativeNames([uri])
        }
        try extensions.append(
            Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 99999, 1], critical: true, value: [0x05, 0x00]))
        let unknownCritical = try self.signed(extensions: extensions)
        let refusal = self.verifier.verify(unknownCritical, inventory: try self.inventory())
        #expect(refusal.failureCode == .wrongUsage)
        // The CA's own end: after it, nothing it signed is accepted, even a credential that outlives it.
        let ca = self.authority.certificate
        let outlivesCA = try self.signed(
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([uri])
            }, notValidAfter: ca.notValidAfter.addingTimeInterval(86400))
        #expect(self.failure(outlivesCA, now: ca.notValidAfter.addingTimeInterval(-1)) == nil)
        #expect(self.failure(outlivesCA, now: ca.notValidAfter.addingTimeInterval(1)) == .untrustedIssuer)
    }

    func failure(_ certificate: Certificate, now: Date = Date()) -> CredentialVerifier.Failure.Code? {
        (try? self.verifier.verify(certificate, inventory: self.inventory(), now: now))?.failureCode
    }
}

extension Result where Failure == CredentialVerifier.Failure {
    var failureCode: CredentialVerifier.Failure.Code? {
        if case .failure(let failure) = self { return failure.code }
        return nil
    }
}

@Suite struct IdentityTests {
    @Test func urisRoundTrip() {
        #expect(Identity.service("orders").uri(trustDomain: "td") == "spiffe://td/service/orders")
        #expect(Identity(uri: "spiffe://td/service/orders", trustDomain: "td") == .service("orders"))
        #expect(Identity(uri: "spiffe://td/warden", trustDomain: "td") == .warden)
    }

    @Test(arguments: [
        "spiffe://other/service/orders", "spiffe://td/service/", "spiffe://td/service/a.b",
        "spiffe://td/service/orders/x", "https://td/service/orders", "spiffe://td/wardens",
    ])
    func foreignOrMalformedURIsNameNoIdentity(_ uri: String) {
        #expect(Identity(uri: uri, trustDomain: "td") == nil)
    }
}
