extension ProxyStateMachine {
    /// How many of Warden's probing PINGs may wait for their PONGs at once.
    static let maxProbes = 64

    /// While the client takes nothing, Warden reads nothing from nats-server (back-pressure), and so would
    /// not see nats-server close that connection (its own slow-consumer limits) until the client reads
    /// again. A PING of Warden's own, sent meanwhile, finds out: written to a connection nats-server has
    /// closed, it is answered with a reset, and the connection fails at once. Its PONG, when nats-server
    /// is there, waits unread with the rest and is not passed on. Nothing is sent before the upstream is
    /// ready, after the close, or past `maxProbes` PONGs outstanding.
    mutating func probeUpstream(into out: inout ProxyOutput) {
        guard self.upstreamReady, self.phase != .closed, self.ownPings.count < Self.maxProbes else { return }
        self.pingsForwarded += 1
        self.ownPings.append(self.pingsForwarded)
        self.toUpstream(Self.ping, into: &out)
    }
}
