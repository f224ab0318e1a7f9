public import Foundation
import WardenPolicy
import X509

/// nats-server's certificate, issued by Warden's CA for `warden nats-config`.
extension CertificateAuthority {
    /// Issues nats-server's own certificate for `hosts` into `nats/`: one certificate for every server of
    /// a cluster, naming all of them. It serves clients (serverAuth) and both ends of the cluster's
    /// routes, which nats-server verifies both ways (serverAuth and clientAuth), and carries the
    /// identity `spiffe://TD/nats-server` that routes are mapped to (`NATSServerConfig`).
    @discardableResult
    public func issueNATSServerCertificate(hosts: [String], now: Date = Date()) throws(PKIError) -> Inventory.Entry {
        var names = try hosts.map { (host) throws(PKIError) -> GeneralName in try Self.generalName(host) }
        names.append(.uniformResourceIdentifier(Identity.natsServer.uri(trustDomain: self.trustDomain)))
        try SecureFile.makeDirectory(self.layout.natsDirectory, mode: 0o700)
        return try self.issue(
            kind: .natsServer, commonName: "nats-server", names: names, usages: [.serverAuth, .clientAuth],
            lifetime: Self.wardenLifetime,
            certificatePath: self.layout.natsCertificate, keyPath: self.layout.natsKey, now: now)
    }

    /// Whether nats-server's certificate in `nats/` can be used for `hosts` as it is: issued by this CA
    /// for all of them, for clients and routes, with its key beside it, valid for 30 days more. Then
    /// `warden nats-config` keeps it, so that the servers of one cluster share it.
    public func natsServerCertificateCovers(hosts: [String], now: Date = Date()) -> Bool {
        guard FileManager.default.fileExists(atPath: self.layout.natsKey),
            let pem = try? SecureFile.read(self.layout.natsCertificate, what: "nats-server's certificate"),
            let certificate = try? Certificate(pemEncoded: pem),
            certificate.issuer == self.certificate.subject,
            self.certificate.publicKey.isValidSignature(certificate.signature, for: certificate),
            certificate.notValidAfter > now.addingTimeInterval(30 * 86400),
            let usage = (try? certificate.extensions.extendedKeyUsage) ?? nil,
            usage.contains(.serverAuth), usage.contains(.clientAuth),
            let names = try? Self.names(ofCertificateAt: self.layout.natsCertificate)
        else { return false }
        let uris = ((try? certificate.extensions.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        }
        guard uris == [Identity.natsServer.uri(trustDomain: self.trustDomain)] else { return false }
        let named = Set(names.map { $0.lowercased() })
        return hosts.allSatisfy { named.contains($0.lowercased()) }
    }

    /// Every upstream identity of Warden that nats-server must admit: the one all instances share, and each
    /// instance's own (`warden init/renew --instance`) for which a certificate in the inventory is neither
    /// revoked nor expired.
    public func wardenIdentities(now: Date = Date()) throws(PKIError) -> [String] {
        let inventory = try Inventory.load(from: self.layout.inventory)
        let instances = Set(
            inventory.certificates.filter { $0.kind == .wardenClient && !$0.revoked && $0.notAfter > now }
                .compactMap(\.instance))
        return [Identity.warden.uri(trustDomain: self.trustDomain)]
            + instances.sorted().map { Identity.wardenInstance($0).uri(trustDomain: self.trustDomain) }
    }

    /// An instance name is a service name's shape: it is a path segment of a SPIFFE ID.
    static func validateInstance(_ name: String) throws(PKIError) {
        do {
            try ServiceName.validate(name)
        } catch {
            throw PKIError(.invalidName, "instance \"\(name)\": \(error.message)")
        }
    }
}
