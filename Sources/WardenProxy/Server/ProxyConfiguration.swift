public import NIOCore
public import WardenAudit
public import WardenPKI

/// How `warden serve` runs: where it listens, where nats-server is, and its limits.
public struct ProxyConfiguration: Sendable {
    /// Where nats-server is: `tls://HOST:PORT` (or `nats://`, which still means TLS to Warden).
    public struct Upstream: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `tls://HOST:PORT`, `nats://HOST:PORT` or `HOST:PORT`; IPv6 hosts in brackets.
        public init?(url: String) {
            var rest = Substring(url)
            for scheme in ["tls://", "nats://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
            guard !rest.contains("://"), let (host, port) = parseHostPort(rest) else { return nil }
            self.init(host: host, port: port)
        }

        public var description: String {
            "tls://\(self.host.contains(":") ? "[\(self.host)]" : self.host):\(self.port)"
        }
    }

    public var listenHost: String
    public var listenPort: Int
    public var upstream: Upstream
    /// PEM file of the CA that signed nats-server's certificate; nil means Warden's own CA.
    public var upstreamCAFile: String?
    public var certs: CertsLayout
    /// How long the listener waits for a TLS ClientHello before it sends INFO in plain text (the
    /// usual NATS order). Clients that start with the handshake (`handshake_first`) send theirs at once.
    public var handshakeFirstWindow: TimeAmount = .milliseconds(50)
    /// How long a client has from accept to a verified TLS session.
    public var handshakeTimeout: TimeAmount = .seconds(5)
    /// How often the inventory is checked for revocations; revoked connections close within this.
    public var revocationCheckInterval: TimeAmount = .seconds(1)
    public var maxPayload: Int = 1024 * 1024

    public init(
        listenHost: String, listenPort: Int, upstream: Upstream, upstreamCAFile: String? = nil, certs: CertsLayout
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.upstream = upstream
        self.upstreamCAFile = upstreamCAFile
        self.certs = certs
    }
}

extension ProxyConfiguration {
    /// The audit events' NATS connection of a Warden configured so (`AuditTrail.overNATS`): to the
    /// upstream, with Warden's upstream identity and the CA nats-server's certificate is checked against.
    public var auditConnection: AuditConnection {
        AuditConnection(
            url: self.upstream.description, expectedHostname: self.upstream.host,
            caFile: self.upstreamCAFile ?? self.certs.caCertificate, certificateFile: self.certs.upstreamCertificate,
            keyFile: self.certs.upstreamKey)
    }
}

/// `HOST:PORT` with an optional bracketed IPv6 host; nil when either part is missing or invalid.
public func parseHostPort(_ text: Substring) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
        (0...65535).contains(port)
    else { return nil }
    var host = text[..<colon]
    if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    guard !host.isEmpty, !host.contains("/") else { return nil }
    return (String(host), port)
}
