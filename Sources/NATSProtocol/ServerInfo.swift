import Foundation

/// The INFO lines Warden sends to clients.
///
/// Warden sends its own INFO first, before it knows who the client is or has an upstream connection.
/// Later INFO updates from nats-server are passed on with only the fields a client needs for its
/// protocol: an allow-list, so that addresses (`connect_urls`, `ws_connect_urls`, `host`, `ip`, ...),
/// nonces and whatever a future nats-server adds never reach a client and show it a way around Warden.
public enum ServerInfo {
    /// Fields of an upstream INFO that are passed on to clients.
    public static let forwardedFields: Set<String> = [
        "server_id", "server_name", "version", "go", "proto", "headers", "max_payload", "jetstream", "ldm",
        "connect_info", "domain",
    ]

    /// The version Warden's INFO names until it has seen nats-server's: the oldest nats-server whose
    /// protocol Warden speaks (headers, no responders).
    public static let protocolVersion = "2.10.0"

    /// What Warden's INFO repeats of nats-server's: clients choose features by `version` (nats.go and
    /// nats.py put a consumer's filter into the API subject from 2.9 on, for example), so it must be
    /// the version of the nats-server behind Warden.
    public struct Upstream: Hashable, Sendable {
        public var version = ServerInfo.protocolVersion
        public var jetStream = false

        /// The facts of an upstream INFO's JSON; nil when it is not an INFO Warden can read.
        public init?(json: String) {
            guard let object = ServerInfo.object(json) else { return nil }
            self.init(object: object)
        }

        /// The facts of an upstream INFO's JSON object; nil when it names no version.
        public init?(object: [String: Any]) {
            guard let version = object["version"] as? String, !version.isEmpty else { return nil }
            self.version = version
            self.jetStream = (object["jetstream"] as? Bool) ?? false
        }

        public init() {}
    }

    /// Warden's own INFO line for a new client connection. With `lameDuck`, the INFO that tells a client
    /// Warden is about to close it (`ldm`, as nats-server's lame duck mode), so that it reconnects
    /// elsewhere. `connectURLs` are the live Wardens' client URLs (`connect_urls`).
    public static func warden(
        serverID: String, clientID: UInt64, clientIP: String?, maxPayload: Int, upstream: Upstream,
        lameDuck: Bool = false, connectURLs: [String]? = nil
    ) -> String {
        var object: [String: Any] = [
            "server_id": serverID,
            "server_name": "warden",
            "version": upstream.version,
            "proto": 1,
            "headers": true,
            "max_payload": maxPayload,
            "tls_required": true,
            "tls_verify": true,
            "auth_required": false,
            "client_id": clientID,
        ]
        if let clientIP { object["client_ip"] = clientIP }
        if upstream.jetStream { object["jetstream"] = true }
        if lameDuck { object["ldm"] = true }
        if let connectURLs, !connectURLs.isEmpty { object["connect_urls"] = connectURLs }
        return Self.line(object)
    }

    /// What an upstream INFO tells Warden about the cluster, for its pool of servers (`UpstreamPool`);
    /// never passed on to clients.
    public struct Announcement: Equatable, Sendable {
        /// The server is in lame duck mode (`ldm`).
        public var lameDuck = false
        /// The cluster's servers (`connect_urls`), `HOST:PORT` each.
        public var connectURLs: [String] = []
        /// What a trusted proxy signs (`nonce`), when nats-server sends one.
        public var nonce: String?

        public init(lameDuck: Bool = false, connectURLs: [String] = []) {
            self.lameDuck = lameDuck
            self.connectURLs = connectURLs
        }

        public init(object: [String: Any]) {
            self.lameDuck = (object["ldm"] as? Bool) ?? false
            self.connectURLs = (object["connect_urls"] as? [Any])?.compactMap { $0 as? String } ?? []
            self.nonce = object["nonce"] as? String
        }

    }

    /// An upstream INFO reduced to the forwarded fields, with Warden's TLS facts and the client's id,
    /// and what it announces for the pool; nil when it is not valid JSON (then it is not passed on).
    public static func sanitized(upstreamJSON json: String, clientID: UInt64) -> (
        line: String, announcement: Announcement
    )? {
        guard let upstream = Self.object(json) else { return nil }
        var object = upstream.filter { Self.forwardedFields.contains($0.key) }
        object["tls_required"] = true
        object["tls_verify"] = true
        object["auth_required"] = false
        object["client_id"] = clientID
        return (Self.line(object), Announcement(object: upstream))
    }

    /// An INFO's JSON as an object; nil when it is not one.
    public static func object(_ json: String) -> [String: Any]? {
        guard let data = json.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    private static func line(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return "INFO " + String(decoding: data, as: UTF8.self) + "\r\n"
    }
}
