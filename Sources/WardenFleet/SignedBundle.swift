public import Foundation
public import WardenPKI
public import X509

/// A `FleetBundle` as the bucket holds it: its JSON, and the CA's signature over exactly those bytes
/// (`FleetSignature`), in an envelope `{"payload": BASE64, "signature": BASE64}`.
public struct SignedBundle: Hashable, Sendable {
    public let payload: [UInt8]
    public let signature: [UInt8]

    public init(payload: [UInt8], signature: [UInt8]) {
        self.payload = payload
        self.signature = signature
    }

    /// `bundle`, signed with the CA key of `authority`.
    public static func sign(_ bundle: FleetBundle, by authority: CertificateAuthority) throws(PKIError) -> SignedBundle
    {
        let payload: [UInt8]
        do {
            payload = Array(try FleetBundle.encoder.encode(bundle))
        } catch {
            throw PKIError(.io, "cannot encode the fleet state: \(error)")
        }
        return SignedBundle(payload: payload, signature: try FleetSignature.sign(payload, by: authority))
    }

    private struct Envelope: Codable {
        var payload: String
        var signature: String
    }

    /// The envelope, as written to the bucket and to `--state-dir`.
    public var encoded: [UInt8] {
        let envelope = Envelope(
            payload: Data(self.payload).base64EncodedString(), signature: Data(self.signature).base64EncodedString())
        // Two strings cannot fail to encode.
        return Array((try? FleetBundle.encoder.encode(envelope)) ?? Data())
    }

    /// An envelope read back; nil when `bytes` are not one.
    public init?(encoded bytes: [UInt8]) {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(bytes)),
            let payload = Data(base64Encoded: envelope.payload), let signature = Data(base64Encoded: envelope.signature)
        else { return nil }
        self.payload = Array(payload)
        self.signature = Array(signature)
    }

    /// The bundle, when the CA of `ca` signed it and it is whole: the signature checks, the JSON
    /// decodes, its hash matches its contents, and it is for `ca`'s trust domain.
    public func verified(ca: Certificate, trustDomain: String) -> Result<FleetBundle, FleetRefusal> {
        guard FleetSignature.isValid(self.signature, of: self.payload, ca: ca) else {
            return .failure(.notSigned)
        }
        guard let bundle = try? FleetBundle.decoder.decode(FleetBundle.self, from: Data(self.payload)) else {
            return .failure(.corrupt("the signed payload is not a fleet state bundle"))
        }
        guard FleetBundle.contentHash(acls: bundle.acls, inventory: bundle.inventory) == bundle.sha256 else {
            return .failure(.corrupt("its content does not match its sha256"))
        }
        guard bundle.inventory.trustDomain == trustDomain else {
            return .failure(.corrupt("it is for trust domain \(bundle.inventory.trustDomain), not \(trustDomain)"))
        }
        return .success(bundle)
    }
}
