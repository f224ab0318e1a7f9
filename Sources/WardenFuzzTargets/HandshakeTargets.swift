import Foundation
import NATSProtocol

/// The JSON of the two handshake lines: a client's CONNECT (its options, and the CONNECT Warden sends
/// upstream in its name) and nats-server's INFO (what of it reaches clients).
enum HandshakeTargets {
    static func connect(_ input: UnsafeRawBufferPointer) {
        let json = String(decoding: input, as: UTF8.self)
        guard let options = try? ClientConnect(json: json) else { return }
        // A second CONNECT over the first, as a client may send.
        _ = try? ClientConnect(json: json, over: options)
        let line = options.upstreamLine(service: "fuzz", proxySignature: "sig")
        invariant(line.hasPrefix("CONNECT {") && line.hasSuffix("}\r\n"), "upstream CONNECT line: \(line)")
        let sent = Self.json(of: line, after: "CONNECT ")
        invariant(!sent.utf8.contains(UInt8(ascii: "\n")), "the upstream CONNECT is more than one line: \(line)")
        guard let upstream = try? ClientConnect(json: sent) else {
            return invariant(false, "nats-server could not read Warden's CONNECT \(sent) for \(json)")
        }
        invariant(
            upstream.echo == options.echo && upstream.headers == options.headers
                && upstream.noResponders == options.noResponders && upstream.pedantic == options.pedantic
                && upstream.protocolVersion == options.protocolVersion && upstream.lang == options.lang
                && upstream.version == options.version && !upstream.verbose,
            "the upstream CONNECT \(sent) does not carry the options of \(json)")
    }

    /// Fields Warden sets itself in every INFO it sends a client.
    static let wardenFields: Set<String> = ["tls_required", "tls_verify", "auth_required", "client_id"]

    static func info(_ input: UnsafeRawBufferPointer) {
        let json = String(decoding: input, as: UTF8.self)
        let upstream = ServerInfo.Upstream(json: json)
        if let upstream {
            let line = ServerInfo.warden(
                serverID: "fuzz", clientID: 1, clientIP: "127.0.0.1", maxPayload: 1 << 20, upstream: upstream)
            self.checkLine(line, json: json)
        }
        guard let (line, _) = ServerInfo.sanitized(upstreamJSON: json, clientID: 7) else { return }
        let object = self.checkLine(line, json: json)
        let unexpected = Set(object.keys).subtracting(ServerInfo.forwardedFields).subtracting(Self.wardenFields)
        invariant(unexpected.isEmpty, "fields \(unexpected) of \(json) reach clients")
    }

    /// An INFO line a client reads: one line, `INFO {...}\r\n`, whose JSON is an object.
    @discardableResult
    static func checkLine(_ line: String, json: String) -> [String: Any] {
        invariant(line.hasPrefix("INFO {") && line.hasSuffix("}\r\n"), "INFO line \(line) for \(json)")
        let sent = Self.json(of: line, after: "INFO ")
        invariant(!sent.utf8.contains(UInt8(ascii: "\n")), "the INFO for \(json) is more than one line")
        let object = ServerInfo.object(sent)
        invariant(object != nil, "a client could not read the INFO \(line) made of \(json)")
        return object ?? [:]
    }

    /// The JSON of a protocol line: what follows `operation`, without the CRLF (in bytes: `\r\n` is
    /// one Character).
    static func json(of line: String, after operation: String) -> String {
        String(decoding: line.utf8.dropFirst(operation.utf8.count).dropLast(2), as: UTF8.self)
    }
}
