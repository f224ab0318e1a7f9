import Foundation
public import NIOCore
public import WardenAudit
public import WardenPKI

/// How `warden serve` runs: where it listens, where nats-server is, and its limits.
public struct ProxyConfiguration: Sendable {
    /// One nats-server: `tls://HOST:PORT` (or `nats://`, which still means TLS to Warden).
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

        /// A comma-separated list of URLs, as NATS clients take them (`tls://a:4222,tls://b:4222`): the
        /// seed servers of one cluster, each once, in order. Nil when one of them is not a URL.
        public static func list(_ text: String) -> [Upstream]? {
            var servers: [Upstream] = []
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let url = part.trimmingCharacters(in: .whitespaces)
                guard let server = Upstream(url: url) else { return nil }
                if !servers.contains(server) { servers.append(server) }
            }
            return servers.isEmpty ? nil : servers
        }
    }

    public var listenHost: String
    public var listenPort: Int
    /// Where clients reach this Warden, `HOST:PORT`, as other Wardens tell their clients
    /// (`--advertise`); nil for the listen address.
    public var advertise: String?
    /// The nats-servers of one cluster (never empty); each client connection goes to one of them
    /// (`UpstreamPool`).
    public var upstreams: [Upstream]
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
    /// How many clients may be connected at once; the next is refused with nats-server's
    /// `maximum connections exceeded` (its `max_connections`, and its default).
    public var maxConnections = 64 * 1024
    /// How many subscriptions a client may have; the next SUB gets nats-server's `maximum subscriptions
    /// exceeded` and the connection stays open (its `max_subscriptions`); 0 is no limit, its default.
    public var maxSubscriptions = 0
    /// How long a client may go without taking what Warden has for it before it is closed as a slow
    /// consumer: nats-server's `write_deadline`, and its default.
    public var writeDeadline: TimeAmount = .seconds(10)

    public init(
        listenHost: String, listenPort: Int, upstreams: [Upstream], upstreamCAFile: String? = nil, certs: CertsLayout
    ) {
        precondition(!upstreams.isEmpty, "Warden needs at least one nats-server")
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.upstreams = upstreams
        self.upstreamCAFile = upstreamCAFile
        self.certs = certs
    }
}

extension ProxyConfiguration {
    /// What this Warden announces as its client URL when it listens on `port`: `advertise`, or the
    /// listen address (`port` differs from `listenPort` when that is 0).
    public func advertisedAddress(port: Int) -> String {
        self.advertise ?? (self.listenHost.contains(":") ? "[\(self.listenHost)]" : self.listenHost) + ":\(port)"
    }

    /// Warden's own NATS connections (audit events, heartbeats) of a Warden configured so: to the same
    /// servers, with Warden's upstream identity and the CA nats-server's certificate is checked against.
    /// nats.c checks one name on every server it connects to: the first server's host. Servers of a
    /// cluster with certificates of their own must each name it too (`warden nats-config` issues one
    /// certificate naming every server of the cluster).
    public var wardenConnection: WardenConnection {
        WardenConnection(upstreams: self.upstreams, upstreamCAFile: self.upstreamCAFile, certs: self.certs)
    }
}

extension WardenConnection {
    /// Warden's own connection to `upstreams` (see `ProxyConfiguration.wardenConnection`): also what the
    /// fleet's commands use for `--nats`, and `warden serve --fleet` before it has a configuration.
    public init(upstreams: [ProxyConfiguration.Upstream], upstreamCAFile: String?, certs: CertsLayout) {
        self.init(
            url: upstreams.map(\.description).joined(separator: ","), expectedHostname: upstreams[0].host,
            caFile: upstreamCAFile ?? certs.caCertificate, certificateFile: certs.upstreamCertificate,
            keyFile: certs.upstreamKey)
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
