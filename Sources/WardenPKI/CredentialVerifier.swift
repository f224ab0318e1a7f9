public import Foundation
import SwiftASN1
public import X509

/// Decides whether a client certificate is a live credential of this Warden and whom it speaks for.
///
/// The TLS layer proves the client holds the key (the listener's verification callback replaces
/// OpenSSL's chain checks, so everything else is here): issued and signed by this CA, within its
/// validity and the CA's, a client credential (`clientAuth`, `digitalSignature`, not a CA) with no
/// critical extension Warden does not understand, naming one identity in the trust domain, and recorded
/// in the inventory as not revoked. A certificate the inventory does not know is refused.
///
/// This is not swift-certificates' `RFC5280Policy` run over a built chain: Warden's CA issues every
/// credential itself, directly, so the path is always one certificate long. The RFC 5280 steps it
/// leaves out, deliberately:
/// - Path building and intermediate CAs: a certificate is checked against Warden's CA alone; anything
///   a client sends besides its leaf is ignored.
/// - CRLs and OCSP: revocation is the inventory's, read again when its file changes and applied to live
///   connections within `revocationCheckInterval`.
/// - Name constraints processing: the CA permits only URIs in its trust domain, and a credential must name
///   exactly one identity URI in that domain, which is the same rule, checked directly.
/// - Certificate policies, policy mappings and constraints, `inhibitAnyPolicy`: Warden issues none.
/// - Path length and the CA's key usage: there is no intermediate to count, and the CA is the trust
///   anchor, not a certificate of the path.
public struct CredentialVerifier: Sendable {
    /// Why a certificate was refused: a code to compare and a reason for the decision log.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case untrustedIssuer = "untrusted_issuer"
            case badSignature = "bad_signature"
            case notYetValid = "not_yet_valid"
            case expired
            case wrongUsage = "wrong_usage"
            case noIdentity = "no_identity"
            case unknownCertificate = "unknown_certificate"
            case revoked
        }

        public let code: Code
        public let reason: String

        public init(code: Code, reason: String) {
            self.code = code
            self.reason = reason
        }

        public var description: String { self.reason }
        public static func == (lhs: Failure, rhs: Failure) -> Bool { lhs.code == rhs.code }
        public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
    }

    public let ca: Certificate
    public let trustDomain: String

    public init(ca: Certificate, trustDomain: String) {
        self.ca = ca
        self.trustDomain = trustDomain
    }

    public init(authority: CertificateAuthority) {
        self.init(ca: authority.certificate, trustDomain: authority.trustDomain)
    }

    /// The extensions whose meaning `verify` checks, which a credential may mark critical.
    static let understood: Set<ASN1ObjectIdentifier> = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectAlternativeName,
    ]

    public func verify(_ certificate: Certificate, inventory: Inventory, now: Date = Date()) -> Result<
        Identity, Failure
    > {
        guard certificate.issuer == self.ca.subject else {
            return .failure(
                Failure(
                    code: .untrustedIssuer,
                    reason: "certificate not issued by this Warden's CA (issuer \(certificate.issuer))"))
        }
        guard self.ca.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            return .failure(
                Failure(code: .badSignature, reason: "certificate signature does not verify against this Warden's CA"))
        }
        guard now >= certificate.notValidBefore else {
            return .failure(
                Failure(code: .notYetValid, reason: "certificate not valid before \(certificate.notValidBefore)"))
        }
        guard now <= certificate.notValidAfter else {
            return .failure(.expired(at: certificate.notValidAfter))
        }
        // Warden never issues past its CA's end, but a CA that is no longer valid vouches for nothing.
        guard now >= self.ca.notValidBefore && now <= self.ca.notValidAfter else {
            return .failure(
                Failure(
                    code: .untrustedIssuer,
                    reason: "this Warden's CA is valid only from \(self.ca.notValidBefore) to \(self.ca.notValidAfter)")
            )
        }
        let isClient = (try? certificate.extensions.extendedKeyUsage)??.contains(.clientAuth) ?? false
        let isCA =
            (try? certificate.extensions.basicConstraints).flatMap { $0 }.map {
                if case .isCertificateAuthority = $0 { return true } else { return false }
            } ?? false
        guard isClient && !isCA else {
            return .failure(
                Failure(
                    code: .wrongUsage, reason: "certificate is not a client credential (extended key usage clientAuth)")
            )
        }
        // RFC 5280 4.2.1.3: when key usage is present, a TLS client's key must be allowed to sign.
        if let usage = try? certificate.extensions.keyUsage, !usage.digitalSignature {
            return .failure(
                Failure(code: .wrongUsage, reason: "certificate's key usage does not allow digitalSignature"))
        }
        // RFC 5280 4.2: a certificate with a critical extension the verifier does not process is refused.
        if let unknown = certificate.extensions.first(where: { $0.critical && !Self.understood.contains($0.oid) }) {
            return .failure(
                Failure(
                    code: .wrongUsage,
                    reason: "certificate has a critical extension Warden does not understand (\(unknown.oid))"))
        }
        let uris =
            ((try? certificate.extensions.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
                if case .uniformResourceIdentifier(let uri) = name { return uri }
                return nil
            } ?? []
        guard uris.count == 1, let identity = Identity(uri: uris[0], trustDomain: self.trustDomain) else {
            return .failure(
                Failure(
                    code: .noIdentity,
                    reason: "certificate names no single identity in trust domain \(self.trustDomain)"))
        }
        let serial = CertificateAuthority.hex(certificate.serialNumber)
        guard let entry = inventory.entry(serial: serial) else {
            return .failure(.notInInventory(serial: serial))
        }
        if case .service(let name) = identity, entry.service != name {
            return .failure(
                Failure(code: .unknownCertificate, reason: "certificate serial \(serial) was not issued to \(name)"))
        }
        guard !entry.revoked else {
            return .failure(.revoked(serial: serial))
        }
        return .success(identity)
    }

    /// Why a credential that was verified earlier may no longer be used at `now`, by `inventory`:
    /// it left the inventory, was revoked or expired. Nil while it may still be used.
    public static func withdrawal(
        serial: String, notAfter: Date, inventory: Inventory, now: Date = Date()
    ) -> Failure? {
        guard let entry = inventory.entry(serial: serial) else { return .notInInventory(serial: serial) }
        if entry.revoked { return .revoked(serial: serial) }
        if now > notAfter { return .expired(at: notAfter) }
        return nil
    }
}

extension CredentialVerifier.Failure {
    static func expired(at notAfter: Date) -> Self {
        Self(code: .expired, reason: "certificate expired at \(notAfter); re-enroll the service")
    }

    static func notInInventory(serial: String) -> Self {
        Self(code: .unknownCertificate, reason: "certificate serial \(serial) is not in the inventory")
    }

    static func revoked(serial: String) -> Self {
        Self(code: .revoked, reason: "certificate serial \(serial) was revoked")
    }
}
