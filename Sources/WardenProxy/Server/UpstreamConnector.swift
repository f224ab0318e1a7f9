import Logging
import NIOConcurrencyHelpers
import NIOCore
import NATSProtocol
import NIOPosix
import NIOSSL
import WardenPKI

/// How sessions reach nats-server: which server of the pool the next connection goes to, dialling it,
/// the TLS context and proxy signature of Warden's upstream identity, and what happened to each server,
/// logged when it changes what the pool does.
final class UpstreamConnector: Sendable {
    private let pool: NIOLockedValueBox<UpstreamPool>
    private let tls: TLSContextStore
    /// Warden's key as nats-server's trusted proxy, when it has one (`certs/warden/proxy.nk`).
    private let proxyKey: ProxyKey?
    private let logger: Logger
    /// How long dialling a server may take before the next is tried.
    static let connectTimeout: TimeAmount = .seconds(5)

    init(seeds: [ProxyConfiguration.Upstream], tls: TLSContextStore, proxyKey: ProxyKey?, logger: Logger) {
        self.pool = NIOLockedValueBox(UpstreamPool(seeds: seeds))
        self.tls = tls
        self.proxyKey = proxyKey
        self.logger = logger
    }

    private static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// The TLS context for a new upstream connection: Warden's upstream identity as it is now.
    var context: NIOSSLContext { self.tls.upstream }

    /// The CONNECT `proxy_sig` over nats-server's INFO `nonce`, when Warden is a trusted proxy.
    func proxySignature(nonce: String?) -> String? {
        nonce.flatMap { self.proxyKey?.sign(nonce: $0) }
    }

    /// Where a session connects (`UpstreamPool.next`).
    func next(excluding tried: Set<ProxyConfiguration.Upstream> = [], orUnavailable: Bool = true) -> UpstreamEndpoint? {
        self.pool.withLockedValue { $0.next(now: Self.now, excluding: tried, orUnavailable: orUnavailable) }
    }

    /// Dials `server` from `eventLoop`, with receive buffers sized for the TLS handshake; `initialize`
    /// sets up the new channel's pipeline.
    func dial(
        _ server: UpstreamEndpoint, on eventLoop: any EventLoop,
        initialize: @escaping @Sendable (any Channel) throws -> Void
    ) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: ReceiveBuffers.handshake)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try initialize(channel) } }
        return server.address.map { bootstrap.connect(to: $0) }
            ?? bootstrap.connect(host: server.url.host, port: server.url.port)
    }

    /// A connection to `server` could not be made.
    func unreachable(_ server: UpstreamEndpoint, reason: String) {
        guard self.pool.withLockedValue({ $0.failed(server.url, now: Self.now) }) else { return }
        self.logger.warning(
            "nats-server unreachable; new connections go to the other servers for a while",
            metadata: ["server": "\(server)", "reason": "\(reason)"])
    }

    /// A connection to `server` was made, but nats-server's TLS or INFO failed Warden's checks.
    func failedChecks(_ server: UpstreamEndpoint, reason: String) {
        guard self.pool.withLockedValue({ $0.distrust(server.url, now: Self.now) }) else { return }
        self.logger.warning(
            "nats-server failed Warden's checks; new connections go to the other servers",
            metadata: ["server": "\(server)", "reason": "\(reason)"])
    }

    /// A connection to `server` is ready; `announcement` is what its INFO said.
    func connected(_ server: UpstreamEndpoint, announcement: ServerInfo.Announcement) {
        self.pool.withLockedValue {
            $0.connected(to: server.url, lameDuck: announcement.lameDuck, now: Self.now)
        }
        self.learn(from: announcement, of: server)
    }

    /// `server` sent an INFO on a live connection: lame duck mode, or a change of the cluster.
    func announced(_ announcement: ServerInfo.Announcement, by server: UpstreamEndpoint) {
        if announcement.lameDuck {
            self.pool.withLockedValue { $0.lameDuck(server.url, now: Self.now) }
            self.logger.info(
                "nats-server entered lame duck mode; new connections go to the other servers",
                metadata: ["server": "\(server)"])
        }
        self.learn(from: announcement, of: server)
    }

    private func learn(from announcement: ServerInfo.Announcement, of server: UpstreamEndpoint) {
        guard !announcement.connectURLs.isEmpty else { return }
        let joined = self.pool.withLockedValue { $0.learn(announcement.connectURLs) }
        for url in joined {
            self.logger.info(
                "nats-server advertised a server of its cluster; it joins the pool",
                metadata: ["server": "\(url)", "advertised_by": "\(server)"])
        }
    }
}
