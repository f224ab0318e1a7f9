public import X509

/// Whether a server's certificate names the host a client dialled by name, the way Go's crypto/x509
/// (and so nats-server and its Go clients) decides it: only the certificate's DNS names count, compared
/// without regard to ASCII case or a trailing dot, and a `*` may stand for the whole left-most label
/// of a name with at least three labels. IP addresses in the certificate name addresses, not hosts.
///
/// Warden checks this on top of NIOSSL's own check, which also accepts a certificate whose IP address
/// matches the address the name resolved to: a name that resolves somewhere else must not be
/// answered by a certificate for that somewhere else.
///
/// The one rule for nats-server's certificate, on every connection Warden makes to it: a host dialled by
/// name must be one of the certificate's DNS names, an address one of its IP addresses. The data path
/// checks it with this and NIOSSL; Warden's own connections (audit events, heartbeats) with nats.c,
/// whose `SSL_set1_host` takes an address literal as an address in OpenSSL 3
/// (`AuditEventsEndToEndTests.theWardenConnectionChecksTheHostItDials` proves the four cases agree). The
/// one difference left is OpenSSL's: for a certificate with no DNS name at all it still compares the
/// subject's common name. `warden nats-config` never issues such a certificate, and the data path
/// refuses it, so no client traffic reaches a server that only the common name vouches for.
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
