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
    /// Where every decision record goes (log, metrics, audit events).
    let sink: DecisionSink
    var log: DecisionLog { self.sink.log }
    var metrics: BrokerMetrics { self.sink.metrics }
    var audit: AuditTrail? { self.sink.audit }
    let registry: ConnectionRegistry
    /// Warden's TLS, for its listener and its upstream connections: replaced when Warden's certificates
    /// are reloaded (`reloadTLS`); a connection keeps the one it started with.
    private let tls: NIOLockedValueBox<TLSContexts>
    var listenerTLS: NIOSSLContext { self.tls.withLockedValue { $0.listener } }
    var upstreamTLS: NIOSSLContext { self.tls.withLockedValue { $0.upstream } }
    /// When Warden's certificates in use expire: the listener's and the upstream identity's.
    var certificatesNotAfter: (listener: Date, upstream: Date) {
        self.tls.withLockedValue { ($0.listenerNotAfter, $0.upstreamNotAfter) }
    }
    /// The nats-servers sessions connect to, and which is next (`ProxyEnvironment+Upstreams`).
    let pool: NIOLockedValueBox<UpstreamPool>
    /// The other live Wardens' client URLs (`ProxyServer.peersChanged`).
    private let peers = NIOLockedValueBox<[String]>([])
    /// Where clients learn to reconnect (INFO `connect_urls`), as a nats-server of a cluster names
    /// its cluster's servers, itself included; nil while no other Warden is live, as a lone nats-server
    /// names none. A nats-server address is never among them.
    var clientConnectURLs: [String]? {
        let peers = self.peerURLs
        return peers.isEmpty ? nil : [self.advertisedAddress] + peers
    }
    var peerURLs: [String] {
        get { self.peers.withLockedValue { $0 } }
        set { self.peers.withLockedValue { $0 = newValue } }
    }
    /// This Warden's client URL, once it listens (the listen port may have been 0).
    let advertised = NIOLockedValueBox<String?>(nil)
    var advertisedAddress: String {
        self.advertised.withLockedValue { $0 }
            ?? self.configuration.advertisedAddress(port: self.configuration.listenPort)
    }
    let logger: Logger
    /// Warden's key as nats-server's trusted proxy, when it has one (`certs/warden/proxy.nk`).
    let proxyKey: ProxyKey?
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
        let metrics = BrokerMetrics()
        metrics.addDecisionSeries(of: policy)
        self.sink = DecisionSink(log: log, metrics: metrics, audit: audit)
        self.logger = logger
        self.serverID = "WARDEN" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24))
        self.pool = NIOLockedValueBox(UpstreamPool(seeds: configuration.upstreams))
        self.proxyKey = try ProxyKey.load(layout: configuration.certs)

        self.tls = NIOLockedValueBox(try TLSContexts(configuration: configuration))
    }

    /// Reads Warden's certificates, keys and trust roots again, for the connections made from now on.
    /// Throws, and keeps the contexts in use, when they cannot be loaded.
    func reloadTLS() throws {
        let contexts = try TLSContexts(configuration: self.configuration)
        self.tls.withLockedValue { $0 = contexts }
    }

    /// Warden's INFO for a client (`ServerInfo.warden`), with what this Warden knows now.
    func infoLine(clientID: UInt64, clientIP: String? = nil, lameDuck: Bool = false, connectURLs: [String]?)
        -> ByteBuffer
    {
        ByteBuffer(
            string: ServerInfo.warden(
                serverID: self.serverID, clientID: clientID, clientIP: clientIP,
                maxPayload: self.configuration.maxPayload, upstream: self.upstreamInfo, lameDuck: lameDuck,
                connectURLs: connectURLs))
    }

    func newConnectionID() -> UInt64 {
        self.nextConn.withLockedValue {
            $0 += 1
            return $0
        }
    }
}

extension SocketAddress {
    /// `ip:port`, with IPv6 addresses in brackets, for the decision log's `peer`.
    var peerDescription: String {
        guard let ip = self.ipAddress, let port = self.port else { return "unknown" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
