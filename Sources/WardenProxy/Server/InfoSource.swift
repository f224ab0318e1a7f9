import Foundation
import NIOConcurrencyHelpers
import NATSProtocol
import NIOCore

/// What Warden says of itself in the INFO it sends clients, as it stands: its `server_id`, the facts
/// of nats-server's INFO it repeats, and where clients can reconnect (`connect_urls`), which changes as
/// other Wardens come and go.
final class InfoSource: Sendable {
    /// Warden's `server_id`: random per process, like nats-server's.
    let serverID: String
    private let maxPayload: Int
    private let configuration: ProxyConfiguration
    private let upstreamFacts = NIOLockedValueBox(ServerInfo.Upstream())
    /// The other live Wardens' client URLs (`ProxyServer.peersChanged`).
    private let peers = NIOLockedValueBox<[String]>([])
    /// This Warden's client URL, once it listens (the listen port may have been 0).
    private let advertised = NIOLockedValueBox<String?>(nil)

    init(configuration: ProxyConfiguration) {
        self.configuration = configuration
        self.maxPayload = configuration.maxPayload
        self.serverID = "WARDEN" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24))
    }

    /// What Warden's INFO repeats of nats-server's, from the latest INFO of an upstream connection.
    var upstream: ServerInfo.Upstream {
        get { self.upstreamFacts.withLockedValue { $0 } }
        set { self.upstreamFacts.withLockedValue { $0 = newValue } }
    }

    /// The listener is bound to `port`.
    func listening(on port: Int) {
        self.advertised.withLockedValue { $0 = self.configuration.advertisedAddress(port: port) }
    }

    /// This Warden's client URL: `--advertise`, or the listen address.
    var advertisedAddress: String {
        self.advertised.withLockedValue { $0 }
            ?? self.configuration.advertisedAddress(port: self.configuration.listenPort)
    }

    /// The other live Wardens' client URLs.
    var peerURLs: [String] {
        get { self.peers.withLockedValue { $0 } }
        set { self.peers.withLockedValue { $0 = newValue } }
    }

    /// Where clients learn to reconnect (INFO `connect_urls`), as a nats-server of a cluster names
    /// its cluster's servers, itself included; nil while no other Warden is live, as a lone nats-server
    /// names none. A nats-server address is never among them.
    var clientConnectURLs: [String]? {
        let peers = self.peerURLs
        return peers.isEmpty ? nil : [self.advertisedAddress] + peers
    }

    /// Warden's INFO for a client (`ServerInfo.warden`), with what this Warden knows now.
    func line(clientID: UInt64, clientIP: String? = nil, lameDuck: Bool = false, connectURLs: [String]?)
        -> ByteBuffer
    {
        ByteBuffer(
            string: ServerInfo.warden(
                serverID: self.serverID, clientID: clientID, clientIP: clientIP, maxPayload: self.maxPayload,
                upstream: self.upstream, lameDuck: lameDuck, connectURLs: connectURLs))
    }
}
