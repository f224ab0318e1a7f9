public import X509

/// Whether a server's certificate names the host a client dialled by name, the way Go's crypto/x509
/// (and so nats-server and its Go clients) decides it: only the certificate's DNS names count, compared
/// without regard to ASCII case or a trailing dot, and a `*` may stand for the whole left-most label
/// of a name with at least three labels. IP addresses in the certificate name addresses, not hosts.
///
/// Warden checks this on top of NIOSSL's own check, which also accepts a certificate whose IP address
/// matches the address the name resolved to: a name that resolves somewhere else must not be
/// answered by a certificate for that somewhere else.
public enum ServerName {
    public static func certificate(_ certificate: Certificate, names host: String) -> Bool {
        guard let names = (try? certificate.extensions.subjectAlternativeNames) ?? nil else { return false }
        let wanted = Self.normalized(host)
        guard !wanted.isEmpty else { return false }
        for case .dnsName(let name) in names where Self.matches(pattern: Self.normalized(name), host: wanted) {
            return true
        }
        return false
    }

    /// `certificate(_:names:)` for a certificate in DER; false when it cannot be parsed.
    public static func certificate(der: [UInt8], names host: String) -> Bool {
        guard let certificate = try? Certificate(derEncoded: der) else { return false }
        return Self.certificate(certificate, names: host)
    }

    private static func normalized(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    private static func matches(pattern: String, host: String) -> Bool {
        guard pattern.hasPrefix("*.") else { return pattern == host }
        let patternLabels = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let hostLabels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard patternLabels.count >= 3, patternLabels.count == hostLabels.count, !hostLabels[0].isEmpty else {
            return false
        }
        return patternLabels.dropFirst() == hostLabels.dropFirst()
    }
}
