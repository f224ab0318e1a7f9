/// The live Wardens of one fleet as one Warden knows them from their heartbeats, free of I/O: what it
/// tells its clients in INFO `connect_urls`, so that they know where to reconnect, exactly as NATS
/// clients learn a cluster's servers, and never a nats-server address.
public struct PeerDirectory: Sendable {
    /// This Warden's own heartbeat.
    public var own: Heartbeat
    private var peers: [String: (advertise: String, expires: UInt64)] = [:]

    public init(own: Heartbeat) {
        self.own = own
    }

    /// A heartbeat came in at `now` (uptime, ns). Returns whether the URLs changed.
    public mutating func heard(_ beat: Heartbeat, now: UInt64) -> Bool {
        guard beat.serverID != self.own.serverID, beat.trustDomain == self.own.trustDomain else { return false }
        let before = self.peerURLs
        if beat.leaving {
            self.peers[beat.serverID] = nil
        } else {
            let expires = now &+ UInt64(beat.expiresInMilliseconds) &* 1_000_000
            self.peers[beat.serverID] = (beat.advertise, expires)
        }
        return self.peerURLs != before
    }

    /// Forgets the peers not heard from in time. Returns whether the URLs changed.
    public mutating func expire(now: UInt64) -> Bool {
        let before = self.peerURLs
        self.peers = self.peers.filter { $0.value.expires > now }
        return self.peerURLs != before
    }

    /// The other live Wardens' client URLs, `HOST:PORT`, sorted, each once, without this one's.
    public var peerURLs: [String] {
        Array(Set(self.peers.values.map(\.advertise)).subtracting([self.own.advertise])).sorted()
    }
}
