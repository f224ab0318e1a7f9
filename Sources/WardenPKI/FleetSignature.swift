import Crypto
public import Foundation
public import X509

/// The CA's signature over a fleet state bundle (`warden fleet push`), and its check by every Warden:
/// the same root of trust that signs every credential signs the fleet's ACLs and revocations, so that
/// whoever can write to NATS cannot change them.
///
/// ECDSA P-256 with SHA-256 over a fixed context string and the bundle's bytes: the context keeps a
/// bundle signature from ever being taken for a signature over anything else the CA signs.
public enum FleetSignature {
    static let context = Array("warden fleet state bundle v1\n".utf8)

    /// Signs `payload` with the CA key of `authority` (read from its file); the DER-encoded signature.
    public static func sign(_ payload: [UInt8], by authority: CertificateAuthority) throws(PKIError) -> [UInt8] {
        let pem = try SecureFile.read(authority.layout.caKey, what: "the CA key")
        let key: P256.Signing.PrivateKey
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw PKIError(
                .corrupt, "the CA key \(authority.layout.caKey) is not a P-256 key (its content is not shown)")
        }
        guard Certificate.PublicKey(key.publicKey) == authority.certificate.publicKey else {
            throw PKIError(.corrupt, "the CA key \(authority.layout.caKey) does not belong to the CA certificate")
        }
        do {
            return Array(try key.signature(for: Self.context + payload).derRepresentation)
        } catch {
            throw PKIError(.issuance, "cannot sign the fleet state: \(error)")
        }
    }

    /// Whether `signature` (DER) is the CA's, of `ca`, over `payload`.
    public static func isValid(_ signature: [UInt8], of payload: [UInt8], ca: Certificate) -> Bool {
        guard let key = P256.Signing.PublicKey(ca.publicKey),
            let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature)
        else { return false }
        return key.isValidSignature(parsed, for: Self.context + payload)
    }

    /// The CA certificate in `layout`, which every signature is checked against.
    public static func caCertificate(layout: CertsLayout) throws(PKIError) -> Certificate {
        let pem = try SecureFile.read(layout.caCertificate, what: "the CA certificate")
        do {
            return try Certificate(pemEncoded: pem)
        } catch {
            throw PKIError(.corrupt, "the CA certificate \(layout.caCertificate) is corrupt: \(error)")
        }
    }
}

extension FleetSignature {
    /// The trust domain of Warden's CA `ca`: the one URI domain its name constraints permit (`warden
    /// init`). A Warden of the fleet needs no inventory file of its own to know it.
    public static func trustDomain(of ca: Certificate) -> String? {
        guard let constraints = try? ca.extensions.nameConstraints else { return nil }
        let domains = Array(constraints.permittedURIDomains)
        return domains.count == 1 ? domains[0] : nil
    }
}
