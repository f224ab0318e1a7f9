extension ProxyServer {
    /// The other live Wardens are now at `peers` (`HOST:PORT` each, from their heartbeats): new clients
    /// are told in their INFO, and connected ones in an INFO update, as nats-server tells its clients
    /// when its cluster changes, so that they know where to reconnect when this Warden goes away.
    public func peersChanged(_ peers: [String]) {
        guard peers != self.info.peerURLs else { return }
        self.info.peerURLs = peers
        for connection in self.registry.all {
            let session = connection.session
            session.eventLoop.execute { session.value.peersChanged() }
        }
    }

    /// The client URL this Warden announces to the others (`--advertise`, or where it listens).
    public var advertisedAddress: String { self.info.advertisedAddress }
}
