import NATSProtocol
import NIOCore
import WardenAudit

/// The effects of one or more state machine events, carried out by the channel handlers. Reused
/// across events: frames for both sides gather here for a whole read cycle and are written once.
struct ProxyOutput {
    var upstream = OutboundBatch()
    var client = OutboundBatch()
    var records: [DecisionRecord] = []
    /// Set when the client connection must be closed (after writing `client`), with the reason for logs.
    var close: String?
    /// Set when a stream lookup started (`StreamLookup`): its number, for the timer that ends it.
    var lookupStarted: Int?
    /// Set when nats-server sent an INFO: what it announces for the pool (`UpstreamPool`).
    var announcement: ServerInfo.Announcement?

    mutating func reset() {
        self.upstream.removeAll()
        self.client.removeAll()
        self.records.removeAll(keepingCapacity: true)
        self.close = nil
        self.lookupStarted = nil
        self.announcement = nil
    }
}
