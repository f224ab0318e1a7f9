import Crypto
public import Foundation
import SwiftASN1
import WardenPolicy
public import X509

/// Warden's own certificate authority: it issues every credential in the system and records each in
/// the inventory, so that revocation is a matter of flipping a flag Warden watches.
public struct CertificateAuthority: Sendable {
    public static let defaultTrustDomain = "warden.local"
    public static let defaultServiceLifetime: Duration = .seconds(90 * 86400)
    static let caLifetime: TimeInterval = 10 * 365 * 86400
    static let wardenLifetime: TimeInterval = 2 * 365 * 86400

    public let layout: CertsLayout
    public let certificate: Certificate
    public let trustDomain: String
    private let privateKey: Certificate.PrivateKey

    // MARK: Creating and loading

    /// The names Warden's listener certificate has unless others are given: this host's loopback, over
    /// IPv4 and IPv6, which is where `warden serve` listens by default.
    public static let defaultListenerNames = ["localhost", "127.0.0.1", "::1"]

    /// Creates the CA, Warden's server certificate (for `sans`) and Warden's upstream client identity.
    /// Refuses to replace an existing CA unless `force`.
    @discardableResult
    public static func initialize(
        layout: CertsLayout, trustDomain: String = defaultTrustDomain, sans: [String] = defaultListenerNames,
        instance: String? = nil, force: Bool = false, now: Date = Date()
    ) throws(PKIError) -> CertificateAuthority {
        try Self.validateTrustDomain(trustDomain)
        if let instance { try Self.validateInstance(instance) }
        guard !sans.isEmpty else {
            throw PKIError(.noListenerNames, "Warden's listener certificate needs at least one DNS name or IP address")
        }
        let names = try sans.map { (san) throws(PKIError) -> GeneralName in try Self.generalName(san) }
        if FileManager.default.fileExists(atPath: layout.caCertificate) && !force {
            throw PKIError(
                .alreadyInitialized,
                "a CA already exists in \(layout.root); re-initializing invalidates every credential it issued"
            )
        }
        let key = P256.Signing.PrivateKey()
        let caKey = Certificate.PrivateKey(key)
        let name: DistinguishedName
        let certificate: Certificate
        do {
            // A random id makes every CA's name unique, so certificates of two CAs for the same trust
            // domain never share an issuer name.
            let id = Self.hex((0..<4).map { _ in UInt8.random(in: 0...255) })
            name = try DistinguishedName {
                OrganizationName("Warden")
                CommonName("Warden CA \(trustDomain) \(id)")
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                Critical(NameConstraints(permittedURIDomains: [trustDomain]))
                SubjectKeyIdentifier(hash: caKey.publicKey)
            }
            certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: caKey.publicKey,
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Self.caLifetime),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: caKey)
        } catch {
            throw PKIError(.issuance, "cannot create the CA certificate: \(error)")
        }
        try SecureFile.makeDirectory(layout.root, mode: 0o755)
        try SecureFile.makeDirectory(layout.caDirectory, mode: 0o700)
        try SecureFile.write(Data(try Self.pem(caKey).utf8), to: layout.caKey, mode: 0o600)
        try SecureFile.write(Data(try Self.pem(certificate).utf8), to: layout.caCertificate, mode: 0o644)
        try Inventory(trustDomain: trustDomain).save(to: layout.inventory)

        let authority = CertificateAuthority(
            layout: layout, certificate: certificate, trustDomain: trustDomain, privateKey: caKey)
        try authority.issueWardenCertificates(names: names, instance: instance, now: now)
        return authority
    }

    /// Issues Warden's own certificates again, each with a new key: its listener's, for `sans` or, when
    /// nil, the names the current one has, and its upstream identity. Services' credentials and the
    /// CA stay as they are; the old certificates stay valid until they expire. Returns the listener's
    /// names and the new certificates' inventory entries.
    @discardableResult
    public func renewWardenCertificates(
        sans: [String]? = nil, instance: String? = nil, now: Date = Date()
    ) throws(PKIError) -> (names: [String], listener: Inventory.Entry, upstream: Inventory.Entry) {
        if let instance { try Self.validateInstance(instance) }
        let texts: [String]
        if let sans { texts = sans } else { texts = try Self.names(ofCertificateAt: self.layout.serverCertificate) }
        guard !texts.isEmpty else {
            throw PKIError(.noListenerNames, "Warden's listener certificate needs at least one DNS name or IP address")
        }
        let names = try texts.map { (san) throws(PKIError) -> GeneralName in try Self.generalName(san) }
        let (listener, upstream) = try self.issueWardenCertificates(names: names, instance: instance, now: now)
        return (texts, listener, upstream)
    }

    /// Warden's listener certificate for `names` and its upstream identity, into `warden/`.
    @discardableResult
    /// `instance` names the upstream identity of one Warden instance (`spiffe://TD/warden/NAME`); nil is
    /// the identity every instance shares (`spiffe://TD/warden`).
    private func issueWardenCertificates(
        names: [GeneralName], instance: String?, now: Date
    ) throws(PKIError) -> (listener: Inventory.Entry, upstream: Inventory.Entry) {
        let identity = instance.map { Identity.wardenInstance($0) } ?? .warden
        try SecureFile.makeDirectory(self.layout.wardenDirectory, mode: 0o700)
        let listener = try self.issue(
            kind: .wardenServer, commonName: "warden", names: names, usages: [.serverAuth],
            lifetime: Self.wardenLifetime, certificatePath: self.layout.serverCertificate,
            keyPath: self.layout.serverKey, now: now)
        let upstream = try self.issue(
            kind: .wardenClient, instance: instance, commonName: "warden",
            names: [.uniformResourceIdentifier(identity.uri(trustDomain: self.trustDomain))],
            usages: [.clientAuth], lifetime: Self.wardenLifetime, certificatePath: self.layout.upstreamCertificate,
            keyPath: self.layout.upstreamKey, now: now)
        return (listener, upstream)
    }

    /// The DNS names and IP addresses a certificate file names, as `--san` takes them.
    static func names(ofCertificateAt path: String) throws(PKIError) -> [String] {
        let pem = try SecureFile.read(path, what: "Warden's listener certificate")
        let names: SubjectAlternativeNames?
        do {
            names = try Certificate(pemEncoded: pem).extensions.subjectAlternativeNames
        } catch {
            throw PKIError(.unreadableListenerNames, "the names of \(path) cannot be read: \(error)")
        }
        var texts: [String] = []
        for name in names ?? SubjectAlternativeNames() {
            switch name {
            case .dnsName(let text): texts.append(text)
            case .ipAddress(let octets): if let text = IPAddressBytes(Array(octets.bytes))?.text { texts.append(text) }
            default: continue
            }
        }
        return texts
    }

    /// Loads the CA from `layout`, checking that its key and certificate belong together.
    public static func load(layout: CertsLayout) throws(PKIError) -> CertificateAuthority {
        let certificatePEM = try SecureFile.read(layout.caCertificate, what: "the CA certificate")
        let keyPEM = try SecureFile.read(layout.caKey, what: "the CA key")
        let certificate: Certificate
        let key: Certificate.PrivateKey
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw PKIError(.corrupt, "the CA certificate \(layout.caCertificate) is corrupt: \(error)")
        }
        do {
            key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw PKIError(.corrupt, "the CA key \(layout.caKey) is corrupt (its content is not shown)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw PKIError(.corrupt, "the CA key \(layout.caKey) does not belong to \(layout.caCertificate)")
        }
        let inventory = try Inventory.load(from: layout.inventory)
        return CertificateAuthority(
            layout: layout, certificate: certificate, trustDomain: inventory.trustDomain, privateKey: key)
    }

    private init(layout: CertsLayout, certificate: Certificate, trustDomain: String, privateKey: Certificate.PrivateKey)
    {
        self.layout = layout
        self.certificate = certificate
        self.trustDomain = trustDomain
        self.privateKey = privateKey
    }

    // MARK: Service credentials

    /// Issues a credential for `service` into `services/SERVICE/` (cert.pem, key.pem, ca.pem). Enrolling
    /// again rotates it: a new key and certificate; the old certificate stays valid until it expires or
    /// the service is revoked.
    @discardableResult
    public func enroll(service: String, lifetime: Duration = defaultServiceLifetime, now: Date = Date())
        throws(PKIError) -> Inventory.Entry
    {
        do {
            try ServiceName.validate(service)
        } catch {
            throw PKIError(.invalidName, error.message)
        }
        let seconds = TimeInterval(lifetime.components.seconds)
        guard seconds >= 60 else {
            throw PKIError(.invalidLifetime, "a credential must be valid for at least 1m")
        }
        guard now.addingTimeInterval(seconds) <= self.certificate.notValidAfter else {
            throw PKIError(
                .invalidLifetime,
                "a lifetime of \(DurationParser.format(lifetime)) outlives the CA, which expires \(self.certificate.notValidAfter)"
            )
        }
        let directory = self.layout.serviceDirectory(service)
        try SecureFile.makeDirectory(self.layout.servicesDirectory, mode: 0o755)
        try SecureFile.makeDirectory(directory, mode: 0o700)
        let entry = try self.issue(
            kind: .service, service: service, commonName: service,
            names: [.uniformResourceIdentifier(Identity.service(service).uri(trustDomain: self.trustDomain))],
            usages: [.clientAuth], lifetime: seconds, certificatePath: "\(directory)/cert.pem",
            keyPath: "\(directory)/key.pem", now: now)
        try SecureFile.write(Data(try Self.pem(self.certificate).utf8), to: "\(directory)/ca.pem", mode: 0o644)
        return entry
    }

    /// Marks every certificate issued to `service` revoked. Returns the entries it revoked now.
    @discardableResult
    public func revoke(service: String, now: Date = Date()) throws(PKIError) -> [Inventory.Entry] {
        var inventory = try Inventory.load(from: self.layout.inventory)
        let issued = inventory.certificates.indices.filter { inventory.certificates[$0].service == service }
        guard !issued.isEmpty else {
            throw PKIError(
                .unknownService,
                "no credential was ever issued to \"\(service)\"; check the name (`ls \(self.layout.servicesDirectory)`)"
            )
        }
        let revoked = inventory.revoke(service: service, now: now)
        try inventory.save(to: self.layout.inventory)
        return revoked
    }

    // MARK: Issuing

    @discardableResult
    func issue(
        kind: Inventory.Kind, service: String? = nil, instance: String? = nil, commonName: String, names: [GeneralName],
        usages: [ExtendedKeyUsage.Usage], lifetime: TimeInterval, certificatePath: String, keyPath: String, now: Date
    ) throws(PKIError) -> Inventory.Entry {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let serial = Certificate.SerialNumber()
        let notBefore = now.addingTimeInterval(-300)  // tolerate small clock differences between hosts
        let notAfter = min(now.addingTimeInterval(lifetime), self.certificate.notValidAfter)
        let certificate: Certificate
        do {
            let subject = try DistinguishedName {
                OrganizationName("Warden")
                CommonName(commonName)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usages)
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: key.publicKey)
                AuthorityKeyIdentifier(
                    keyIdentifier: try self.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            }
            certificate = try Certificate(
                version: .v3, serialNumber: serial, publicKey: key.publicKey, notValidBefore: notBefore,
                notValidAfter: notAfter, issuer: self.certificate.subject, subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: self.privateKey)
        } catch {
            throw PKIError(.issuance, "cannot issue a certificate for \(commonName): \(error)")
        }
        let entry = Inventory.Entry(
            serial: Self.hex(serial), kind: kind, service: service, instance: instance, notBefore: notBefore,
            notAfter: notAfter, revoked: false, revokedAt: nil)
        // Record first: a certificate missing from the inventory would be refused anyway (fail closed).
        var inventory = try Inventory.load(from: self.layout.inventory)
        inventory.certificates.append(entry)
        try inventory.save(to: self.layout.inventory)
        try SecureFile.write(Data(try Self.pem(key).utf8), to: keyPath, mode: 0o600)
        try SecureFile.write(Data(try Self.pem(certificate).utf8), to: certificatePath, mode: 0o644)
        return entry
    }

    // MARK: Helpers

    /// A serial number as the inventory writes it: lowercase hex.
    public static func hex(_ serial: Certificate.SerialNumber) -> String {
        self.hex(serial.bytes)
    }

    /// Lowercase hex, two digits a byte.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
    }

    static func pem(_ certificate: Certificate) throws(PKIError) -> String {
        do {
            return try certificate.serializeAsPEM().pemString + "\n"
        } catch {
            throw PKIError(.issuance, "cannot encode a certificate: \(error)")
        }
    }

    static func pem(_ key: Certificate.PrivateKey) throws(PKIError) -> String {
        do {
            return try key.serializeAsPEM().pemString + "\n"
        } catch {
            throw PKIError(.issuance, "cannot encode a private key")
        }
    }

    /// A SAN from text: an IPv4/IPv6 address, or a DNS name.
    static func generalName(_ text: String) throws(PKIError) -> GeneralName {
        if let address = IPAddressBytes(text) { return .ipAddress(ASN1OctetString(contentBytes: address.bytes[...])) }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            !text.isEmpty && text.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "*") }
            }
        guard valid else {
            throw PKIError(.invalidName, "\"\(text)\" is neither an IP address nor a valid DNS name")
        }
        return .dnsName(text)
    }

    static func validateTrustDomain(_ domain: String) throws(PKIError) {
        let valid =
            !domain.isEmpty && domain.count <= 255
            && domain.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
                !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
            }
        guard valid else {
            throw PKIError(
                .invalidName,
                "invalid trust domain \"\(domain)\": use lowercase letters, digits, '-', '_' and '.', e.g. prod.example.com"
            )
        }
    }
}
