import NIOCore

/// One nats-server as a session dials it.
struct UpstreamEndpoint: Hashable, Sendable, CustomStringConvertible {
    let url: ProxyConfiguration.Upstream
    /// Its address when the URL names an IP address, parsed once, so connecting needs no resolver (NIO
    /// would otherwise run getaddrinfo on a thread of its pool for every connection). A host name is
    /// resolved for every connection, as NATS clients do, so that a change in DNS takes effect.
    let address: SocketAddress?

    init(_ url: ProxyConfiguration.Upstream) {
        self.url = url
        self.address = try? SocketAddress(ipAddress: url.host, port: url.port)
    }

    /// The name nats-server's certificate must carry: the host dialled, or nil for an address (then
    /// checked against the certificate's IP addresses instead).
    var serverName: String? { self.address == nil ? self.url.host : nil }

    var description: String { self.url.description }
}

/// The nats-servers Warden connects clients to, and which one is next: the seed servers of one
/// cluster (`--upstream`) and the servers they advertise in INFO `connect_urls`. Free of I/O: sessions
/// report what happened, the pool answers where the next connection goes.
///
/// Connections are spread over the servers in turn. A server that refused a connection within
/// `failureHold`, or announced lame duck mode within `lameDuckHold`, is skipped while another is
/// available; when none is, the one that failed longest ago is tried, so that a client connecting during
/// an outage is refused quickly and its reconnect loop goes on.
struct UpstreamPool {
    struct Server: Equatable {
        let endpoint: UpstreamEndpoint
        /// Given in `--upstream`, not learnt from an INFO.
        let seed: Bool
        /// When (uptime, ns) a connection to it last failed, until one succeeds.
        var failedAt: UInt64?
        /// When it last announced lame duck mode, until a connection finds it without.
        var lameDuckAt: UInt64?
        /// Learnt, and its TLS failed: it is not used again (`distrust`).
        var distrusted = false
    }

    /// How long a server that failed is skipped while others are available.
    static let failureHold: UInt64 = 5_000_000_000
    /// How long a server in lame duck mode is skipped: nats-server's default lame duck duration.
    static let lameDuckHold: UInt64 = 120_000_000_000
    /// How many servers the pool learns from INFO at most, beyond the seeds.
    static let maxLearned = 64

    private(set) var servers: [Server]
    private var turn = 0

    init(seeds: [ProxyConfiguration.Upstream]) {
        self.servers = seeds.map { Server(endpoint: UpstreamEndpoint($0), seed: true) }
    }

    /// Whether `server` may take connections at `now` as far as the pool knows.
    static func isAvailable(_ server: Server, now: UInt64) -> Bool {
        if let failed = server.failedAt, now &- failed < Self.failureHold { return false }
        if let lameDuck = server.lameDuckAt, now &- lameDuck < Self.lameDuckHold { return false }
        return true
    }

    /// Where the next connection goes, other than the servers in `tried`: the next available server in
    /// turn; when none is, and `orUnavailable`, the one whose failure or lame duck mode is oldest. Nil
    /// when there is no such server.
    mutating func next(
        now: UInt64, excluding tried: Set<ProxyConfiguration.Upstream> = [], orUnavailable: Bool = true
    ) -> UpstreamEndpoint? {
        let count = self.servers.count
        for step in 0..<count {
            let index = (self.turn + step) % count
            let server = self.servers[index]
            guard !tried.contains(server.endpoint.url), !server.distrusted, Self.isAvailable(server, now: now)
            else { continue }
            self.turn = (index + 1) % count
            return server.endpoint
        }
        guard orUnavailable else { return nil }
        return self.servers.filter { !tried.contains($0.endpoint.url) && !$0.distrusted }
            .min { max($0.failedAt ?? 0, $0.lameDuckAt ?? 0) < max($1.failedAt ?? 0, $1.lameDuckAt ?? 0) }?
            .endpoint
    }

    /// A connection to `server` failed before nats-server was ready. Returns whether that is news (the
    /// server was available until now), for the log.
    @discardableResult
    mutating func failed(_ server: ProxyConfiguration.Upstream, now: UInt64) -> Bool {
        guard let index = self.index(of: server) else { return false }
        let wasAvailable = Self.isAvailable(self.servers[index], now: now)
        self.servers[index].failedAt = now
        return wasAvailable
    }

    /// A connection to `server` is ready; `lameDuck` when its INFO says it is in lame duck mode.
    mutating func connected(to server: ProxyConfiguration.Upstream, lameDuck: Bool, now: UInt64) {
        guard let index = self.index(of: server) else { return }
        self.servers[index].failedAt = nil
        self.servers[index].lameDuckAt = lameDuck ? now : nil
    }

    /// A learnt server's TLS handshake or certificate failed: nats-server advertises every address it
    /// listens on, and its certificate need not name them all. It is not used again; a seed server
    /// only counts as failed, since the operator named it. Returns whether that is news, for the log.
    @discardableResult
    mutating func distrust(_ server: ProxyConfiguration.Upstream, now: UInt64) -> Bool {
        guard let index = self.index(of: server) else { return false }
        let news = Self.isAvailable(self.servers[index], now: now) && !self.servers[index].distrusted
        self.servers[index].failedAt = now
        if !self.servers[index].seed { self.servers[index].distrusted = true }
        return news
    }

    /// `server` announced lame duck mode: it will close its connections and take no new ones.
    mutating func lameDuck(_ server: ProxyConfiguration.Upstream, now: UInt64) {
        guard let index = self.index(of: server) else { return }
        self.servers[index].lameDuckAt = now
    }

    /// Servers advertised in an INFO's `connect_urls` (`HOST:PORT` or URLs): those not known yet join
    /// the pool, up to `maxLearned`. Returns the ones that joined.
    mutating func learn(_ urls: [String]) -> [ProxyConfiguration.Upstream] {
        var joined: [ProxyConfiguration.Upstream] = []
        for text in urls {
            guard self.servers.count(where: { !$0.seed }) < Self.maxLearned else { break }
            guard let url = ProxyConfiguration.Upstream(url: text), self.index(of: url) == nil else { continue }
            self.servers.append(Server(endpoint: UpstreamEndpoint(url), seed: false))
            joined.append(url)
        }
        return joined
    }

    private func index(of server: ProxyConfiguration.Upstream) -> Int? {
        self.servers.firstIndex { $0.endpoint.url == server }
    }
}
