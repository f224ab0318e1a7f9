import NIOCore

/// The pool of nats-servers as sessions use it: where the next connection goes, and what happened to
/// each server, logged when it changes what the pool does.
extension ProxyEnvironment {
    private static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// Where a session connects (`UpstreamPool.next`).
    func nextUpstream(
        excluding tried: Set<ProxyConfiguration.Upstream> = [], orUnavailable: Bool = true
    ) -> UpstreamEndpoint? {
        self.pool.withLockedValue { $0.next(now: Self.now, excluding: tried, orUnavailable: orUnavailable) }
    }

    /// A connection to `server` could not be made.
    func upstreamUnreachable(_ server: UpstreamEndpoint, reason: String) {
        guard self.pool.withLockedValue({ $0.failed(server.url, now: Self.now) }) else { return }
        self.logger.warning(
            "nats-server unreachable; new connections go to the other servers for a while",
            metadata: ["server": "\(server)", "reason": "\(reason)"])
    }

    /// A connection to `server` was made, but nats-server's TLS or INFO failed Warden's checks.
    func upstreamFailedChecks(_ server: UpstreamEndpoint, reason: String) {
        guard self.pool.withLockedValue({ $0.distrust(server.url, now: Self.now) }) else { return }
        self.logger.warning(
            "nats-server failed Warden's checks; new connections go to the other servers",
            metadata: ["server": "\(server)", "reason": "\(reason)"])
    }

    /// A connection to `server` is ready; `announcement` is what its INFO said.
    func upstreamConnected(_ server: UpstreamEndpoint, announcement: ServerInfo.Announcement) {
        self.pool.withLockedValue {
            $0.connected(to: server.url, lameDuck: announcement.lameDuck, now: Self.now)
        }
        self.learn(from: announcement, of: server)
    }

    /// `server` sent an INFO on a live connection: lame duck mode, or a change of the cluster.
    func upstreamAnnounced(_ announcement: ServerInfo.Announcement, by server: UpstreamEndpoint) {
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
