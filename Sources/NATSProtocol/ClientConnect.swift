import Foundation

/// The options of a client's CONNECT, and the CONNECT Warden sends upstream on its behalf.
///
/// The client's own credentials (`user`, `pass`, `auth_token`, `nkey`, `sig`, `jwt`) are never
/// forwarded: upstream, every connection is Warden's identity. The options that change what the
/// server does for the client (echo, headers, no_responders, protocol, pedantic) are kept.
public struct ClientConnect: Hashable, Sendable {
    public enum Failure: Error, Hashable {
        /// The CONNECT arguments are not a JSON object.
        case malformed
        /// `no_responders` without `headers`, which nats-server refuses and closes the connection for.
        case noRespondersRequiresHeaders

        /// nats-server's `-ERR` text for the failure, or nil when it closes without one.
        public var wireText: String? {
            switch self {
            case .malformed: return nil
            case .noRespondersRequiresHeaders: return "no responders requires headers support"
            }
        }
    }

    // nats-server's defaults when a field is absent: verbose, pedantic and echo are on.
    public var verbose = true
    public var pedantic = true
    public var echo = true
    public var headers = false
    public var noResponders = false
    public var protocolVersion = 0
    public var name: String?
    public var lang: String?
    public var version: String?

    /// The options of a CONNECT's JSON. A repeated CONNECT changes only the options it names, as
    /// nats-server reads it into the options it has (`over`).
    public init(json: String, over previous: ClientConnect? = nil) throws(Failure) {
        guard let data = json.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw .malformed }
        if let previous { self = previous }
        func flag(_ key: String, _ value: inout Bool) throws(Failure) {
            guard let raw = object[key], !(raw is NSNull) else { return }
            guard let number = raw as? NSNumber else { throw .malformed }
            value = number.boolValue
        }
        try flag("verbose", &self.verbose)
        try flag("pedantic", &self.pedantic)
        try flag("echo", &self.echo)
        try flag("headers", &self.headers)
        try flag("no_responders", &self.noResponders)
        if let number = object["protocol"] as? NSNumber { self.protocolVersion = number.intValue }
        if let name = object["name"] as? String { self.name = name }
        if let lang = object["lang"] as? String { self.lang = lang }
        if let version = object["version"] as? String { self.version = version }
        if self.noResponders && !self.headers { throw .noRespondersRequiresHeaders }
    }

    /// The connection name upstream: the service, then the client's own name if it gave one, so that
    /// nats-server's monitoring shows who is behind each of Warden's connections.
    public static func upstreamName(service: String?, clientName: String?) -> String {
        let who = "warden:" + (service ?? "unidentified")
        guard let clientName, !clientName.isEmpty else { return who }
        return "\(who):\(clientName)"
    }

    /// The `CONNECT {...}\r\n` line for the upstream connection. Warden answers `verbose` itself (see
    /// `ProxyStateMachine`), so upstream it is always off. `proxySignature` is Warden's `proxy_sig`.
    public func upstreamLine(service: String?, proxySignature: String? = nil) -> String {
        var object: [String: Any] = [
            "verbose": false,
            "pedantic": self.pedantic,
            "tls_required": true,
            "echo": self.echo,
            "headers": self.headers,
            "no_responders": self.noResponders,
            "protocol": self.protocolVersion,
            "name": Self.upstreamName(service: service, clientName: self.name),
        ]
        if let lang = self.lang { object["lang"] = lang }
        if let version = self.version { object["version"] = version }
        if let proxySignature { object["proxy_sig"] = proxySignature }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return "CONNECT " + String(decoding: data, as: UTF8.self) + "\r\n"
    }
}
