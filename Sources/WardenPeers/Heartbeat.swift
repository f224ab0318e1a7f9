import Foundation

/// What a Warden announces to the others on `warden.peers.heartbeat`: who it is and where its clients
/// connect. Published with Warden's upstream identity; no service may publish there (the subjects are
/// reserved, `peerSubjectPrefix`).
public struct Heartbeat: Codable, Hashable, Sendable {
    /// The subject every Warden publishes its heartbeats to and reads the others' from.
    public static let subject = "warden.peers.heartbeat"

    /// The instance's name (`--instance`), for operators.
    public var instance: String
    /// Where its clients connect, `HOST:PORT` (`--advertise`), as nats-server's `connect_urls` name servers.
    public var advertise: String
    /// Its INFO `server_id`, random per process: a restarted Warden is a new peer.
    public var serverID: String
    /// Its trust domain: Wardens of another trust domain on the same cluster are not peers, since their
    /// clients' credentials are not accepted here.
    public var trustDomain: String
    /// How long the others count it as live without hearing from it again, in milliseconds.
    public var expiresInMilliseconds: Int
    /// It is going away (lame duck mode, or stopping): the others forget it at once.
    public var leaving: Bool
    /// Its client connections open now, for `warden fleet status`.
    public var connections: Int?
    /// The version of the fleet state in force (`warden serve --fleet`); nil when its ACLs come from files.
    public var stateVersion: UInt64?

    public init(
        instance: String, advertise: String, serverID: String, trustDomain: String, expiresInMilliseconds: Int,
        leaving: Bool = false
    ) {
        self.instance = instance
        self.advertise = advertise
        self.serverID = serverID
        self.trustDomain = trustDomain
        self.expiresInMilliseconds = expiresInMilliseconds
        self.leaving = leaving
    }

    enum CodingKeys: String, CodingKey {
        case instance, advertise, leaving, connections
        case stateVersion = "state_version"
        case serverID = "server_id"
        case trustDomain = "trust_domain"
        case expiresInMilliseconds = "expires_in_ms"
    }

    /// The heartbeat's JSON, as published.
    public var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings, integers and a Bool cannot fail.
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// A heartbeat read from NATS; nil when it is not one (it is then ignored).
    public init?(json: [UInt8]) {
        guard let beat = try? JSONDecoder().decode(Heartbeat.self, from: Data(json)),
            !beat.instance.isEmpty, !beat.serverID.isEmpty, beat.expiresInMilliseconds > 0,
            Heartbeat.isHostPort(beat.advertise)
        else { return nil }
        self = beat
    }

    /// Whether `text` is `HOST:PORT` as clients take it in `connect_urls`: a port, and a host without
    /// spaces, slashes or a scheme.
    static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return false }
        let host = text[..<colon]
        return !host.isEmpty && host.count <= 255
            && host.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != "," && $0 != "\"" }
    }
}
