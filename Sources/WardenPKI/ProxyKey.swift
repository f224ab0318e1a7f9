import Crypto
import Foundation

/// Warden's key as a trusted proxy of nats-server (2.12+, ADR-55): nats-server configured with its public
/// key (`proxies { trusted }`, by `warden nats-config --trusted-proxy`) knows that a connection came
/// through Warden when its CONNECT carries `proxy_sig`, the key's signature of the nonce in nats-server's
/// INFO; with `proxy_required` on Warden's user, Warden's certificate alone no longer gets anyone in.
/// Kept as an nkey seed (`SU...`, mode 0600) in `certs/warden/proxy.nk`.
public struct ProxyKey: Sendable {
    /// The Ed25519 seed (the key is made from it for each use: swift-crypto's key is not Sendable).
    private let seed: [UInt8]
    private var key: Curve25519.Signing.PrivateKey {
        // The seed was a valid key when this value was made.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: self.seed)
    }

    /// The public key as nats-server's configuration takes it, `U...`.
    public var publicKey: String { NKey.publicUser(Array(self.key.publicKey.rawRepresentation)) }

    /// `proxy_sig` for an upstream connection whose INFO carried `nonce`: the Ed25519 signature of the
    /// nonce's bytes, base64url without padding, as nats-server verifies it.
    public func sign(nonce: String) -> String? {
        guard let signature = try? self.key.signature(for: Data(nonce.utf8)) else { return nil }
        return signature.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The key in `layout`, or nil when there is none (Warden then sends no `proxy_sig`).
    public static func load(layout: CertsLayout) throws(PKIError) -> ProxyKey? {
        guard FileManager.default.fileExists(atPath: layout.proxyKey) else { return nil }
        let text = try SecureFile.read(layout.proxyKey, what: "Warden's trusted-proxy key")
        guard let seed = NKey.decodeUserSeed(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            (try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)) != nil
        else { throw PKIError(.corrupt, "\(layout.proxyKey) is not an nkey user seed (SU...)") }
        return ProxyKey(seed: seed)
    }

    /// The key in `layout`, made (mode 0600) when there is none.
    public static func loadOrCreate(layout: CertsLayout) throws(PKIError) -> ProxyKey {
        if let key = try Self.load(layout: layout) { return key }
        let key = Curve25519.Signing.PrivateKey()
        try SecureFile.makeDirectory(layout.wardenDirectory, mode: 0o700)
        try SecureFile.write(
            Data((NKey.userSeed(Array(key.rawRepresentation)) + "\n").utf8), to: layout.proxyKey, mode: 0o600)
        return ProxyKey(seed: Array(key.rawRepresentation))
    }
}
