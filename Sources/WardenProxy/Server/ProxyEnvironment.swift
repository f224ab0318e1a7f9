import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import WardenAudit
import WardenMetrics
import WardenPKI
import WardenPolicy

/// What every connection of one running Warden shares: configuration, TLS contexts, credentials,
/// the decision log and the registry of live connections with the ACLs they are decided by.
final class ProxyEnvironment: Sendable {
    let configuration: ProxyConfiguration
    let credentials: CredentialStore
    let log: DecisionLog
    let registry: ConnectionRegistry
    let metrics = BrokerMetrics()
    let audit: AuditTrail?
    /// Warden's TLS, for its listener and its upstream connections: replaced when Warden's certificates
    /// are reloaded (`reloadTLS`); a connection keeps the one it started with.
    private let tls: NIOLockedValueBox<TLSContexts>
    var listenerTLS: NIOSSLContext { self.tls.withLockedValue { $0.listener } }
    var upstreamTLS: NIOSSLContext { self.tls.withLockedValue { $0.upstream } }
    /// When Warden's certificates in use expire: the listener's and the upstream identity's.
    var certificatesNotAfter: (listener: Date, upstream: Date) {
        self.tls.withLockedValue { ($0.listenerNotAfter, $0.upstreamNotAfter) }
    }
    /// The upstream's address when `--upstream` names an IP address: parsed once, so connecting needs no
    /// resolver. A host name is resolved for every connection, as NATS clients do, so that a change
    /// in DNS takes effect.
    let upstreamAddress: SocketAddress?
    /// The name nats-server's certificate must carry: the host when `--upstream` names one, nil for an
    /// address (checked against the certificate's IP addresses instead).
    var upstreamServerName: String? { self.upstreamAddress == nil ? self.configuration.upstream.host : nil }
    let logger: Logger
    /// Warden's `server_id` in INFO: random per process, like nats-server's.
    let serverID: String
    private let nextConn = NIOLockedValueBox<UInt64>(0)
    private let upstreamFacts = NIOLockedValueBox(ServerInfo.Upstream())

    /// What Warden's INFO repeats of nats-server's, from the latest INFO of an upstream connection.
    var upstreamInfo: ServerInfo.Upstream {
        get { self.upstreamFacts.withLockedValue { $0 } }
        set { self.upstreamFacts.withLockedValue { $0 = newValue } }
    }

    init(
        configuration: ProxyConfiguration, credentials: CredentialStore, policy: PolicySnapshot, log: DecisionLog,
        audit: AuditTrail?, logger: Logger
    ) throws {
        self.configuration = configuration
        self.credentials = credentials
        self.registry = ConnectionRegistry(policy: policy)
        self.log = log
        self.audit = audit
        self.logger = logger
        self.serverID = "WARDEN" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24))
        self.metrics.addDecisionSeries(of: policy)
        self.upstreamAddress = try? SocketAddress(ipAddress: configuration.upstream.host, port: configuration.upstream.port)

        self.tls = NIOLockedValueBox(try TLSContexts(configuration: configuration))
    }

    /// Reads Warden's certificates, keys and trust roots again, for the connections made from now on.
    /// Throws, and keeps the contexts in use, when they cannot be loaded.
    func reloadTLS() throws {
        let contexts = try TLSContexts(configuration: self.configuration)
        self.tls.withLockedValue { $0 = contexts }
    }

    func newConnectionID() -> UInt64 {
        self.nextConn.withLockedValue {
            $0 += 1
            return $0
        }
    }

    /// Queues a record made outside a session (a connection attempt), encoded now; returns false
    /// when the log asks for back-pressure.
    func submit(_ record: DecisionRecord) -> Bool {
        var encoder = RecordEncoder()
        encoder.encode(record, connection: record.connectionFields, microseconds: RFC3339.nowMicroseconds())
        self.metrics.count(record)
        if let audit = self.audit, record.decision == .deny {
            encoder.bytes.withUnsafeReadableBytes { audit.offerDenials([record], encoded: $0) }
        }
        return encoder.bytes.withUnsafeReadableBytes { self.log.submit($0) }
    }
}

extension SocketAddress {
    /// `ip:port`, with IPv6 addresses in brackets, for the decision log's `peer`.
    var peerDescription: String {
        guard let ip = self.ipAddress, let port = self.port else { return "unknown" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
