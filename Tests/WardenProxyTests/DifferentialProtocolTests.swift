import Foundation
import Testing
import WardenTestSupport

@testable import WardenProxy

/// The same bytes to nats-server directly and through Warden, compared by what the client sees: the
/// lines it gets back (`-ERR` texts, `PONG`) and whether the connection is closed. Warden promises to
/// behave as nats-server here, so the catalogue holds every malformed and edge-case line the other
/// wire tests send; the lines where Warden differs on purpose (it refuses more) are listed apart, with why.
@Suite(.serialized)
struct DifferentialProtocolTests {
    /// A name and the bytes sent after a valid CONNECT and a PING's PONG; a PING follows them.
    static let catalogue: [(String, String)] = [
        ("a negative size", "PUB orders.a -1\r\n"),
        ("a size that is not a number", "PUB orders.a x\r\n"),
        ("a size that overflows", "PUB orders.a 99999999999999999999\r\n"),
        ("no size", "PUB orders.a\r\n"),
        ("too many PUB arguments", "PUB a b c d\r\n"),
        ("a header larger than the message", "HPUB orders.a 10 5\r\n"),
        ("a negative header size", "HPUB orders.a -1 5\r\n"),
        ("HPUB without a header size", "HPUB orders.a 5\r\n"),
        ("a payload longer than its size", "PUB orders.a 1\r\nab\r\n"),
        ("an HPUB payload longer than its size", "HPUB orders.a 3 2\r\nabc\r\n"),
        ("a payload over max_payload", "PUB orders.a 1048577\r\n"),
        ("a control line over 4096 bytes", "PUB " + String(repeating: "a", count: 5000) + " 1\r\n"),
        ("an unknown operation", "XYZ\r\n"),
        ("SUB without arguments", "SUB\r\n"),
        ("SUB without a sid", "SUB orders.a\r\n"),
        ("too many SUB arguments", "SUB a b c d\r\n"),
        ("UNSUB without arguments", "UNSUB\r\n"),
        ("UNSUB of a sid that is not a number", "UNSUB x\r\n"),
        ("UNSUB with a max that is not a number", "UNSUB 1 x\r\n"),
        ("UNSUB with a negative max", "UNSUB 1 -1\r\n"),
        ("PING with an argument", "PING x\r\n"),
        ("a second CONNECT that is not JSON", "CONNECT x\r\n"),
        ("a second CONNECT with no_responders but no headers", "CONNECT {\"no_responders\":true}\r\n"),
    ]

    struct Outcome: Equatable, CustomStringConvertible {
        var lines: [String]
        var closed: Bool
        var description: String { "\(self.lines)\(self.closed ? ", closed" : ", open")" }
    }

    /// Sends `bytes` on a fresh connection that has completed its CONNECT, then a PING, and says what came
    /// back within a second (nats-server's own INFO updates left out) and whether the connection closed.
    static func observe(
        _ bytes: String, port: Int, start: WireClient.Start, certificate: String, key: String, ca: String
    ) async throws -> Outcome {
        try await Self.observe(
            Array(bytes.utf8), port: port, start: start, certificate: certificate, key: key, ca: ca)
    }

    static func observe(
        _ bytes: [UInt8], port: Int, start: WireClient.Start, certificate: String, key: String, ca: String
    ) async throws -> Outcome {
        let client = try await Self.connected(
            port: port, start: start, certificate: certificate, key: key, ca: ca)
        let before = client.text.utf8.count
        try? await client.send(bytes: bytes + Array("PING\r\n".utf8))
        let closed = try await client.waitUntilClosed(timeout: .seconds(1))
        let after = String(decoding: Array(client.text.utf8).dropFirst(before), as: UTF8.self)
        await client.close()
        // nats-server's own PINGs (its keep-alive and first round-trip measurement, about 2 s after a
        // connection starts) are not answers to what was sent: left out, as its INFO updates are.
        return Outcome(
            lines: after.split(separator: "\r\n").map(String.init).filter { !$0.hasPrefix("INFO ") && $0 != "PING" },
            closed: closed)
    }

    /// A connection that has completed its CONNECT. A few tries: on a loaded machine a handshake-first
    /// client's hello can miss the server's wait for it, which is not what these tests are about.
    static func connected(
        port: Int, start: WireClient.Start, certificate: String, key: String, ca: String
    ) async throws -> WireClient {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let client = try await WireClient.connect(
                    port: port, start: start, certificate: certificate, key: key, ca: ca, group: ProxyHarness.group)
                try await client.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\nPING\r\n")
                if try await client.waitFor("PONG\r\n").contains("PONG\r\n") { return client }
                await client.close()
            } catch  where attempt < 3 {
                continue
            }
            guard attempt < 3 else { throw HarnessError(description: "no connection to port \(port) after 3 tries") }
        }
    }

    @Test func everyLineInTheCatalogueGetsWhatNATSServerAnswersInBothTLSOrders() async throws {
        try await withWarden { warden in
            let service = warden.layout.serviceDirectory("orders")
            for (name, bytes) in Self.catalogue {
                // nats-server admits only Warden's identity, so the direct client uses it.
                let direct = try await Self.observe(
                    bytes, port: warden.nats.port, start: .infoFirst, certificate: warden.layout.upstreamCertificate,
                    key: warden.layout.upstreamKey, ca: warden.layout.caCertificate)
                for start in [WireClient.Start.infoFirst, .handshakeFirst] {
                    let through = try await Self.observe(
                        bytes, port: warden.port, start: start, certificate: service + "/cert.pem",
                        key: service + "/key.pem", ca: service + "/ca.pem")
                    #expect(through == direct, "\(name) (\(start)): nats-server \(direct), Warden \(through)")
                }
            }
        }
    }

    /// What a client that speaks protocol 1 (nats.c, nats.go, nats.py) gets for its CONNECT and first
    /// PING, in order, up to a moment after the PONG: nats-server sends the PONG, then an INFO update
    /// (`connect_info`). A client that reads an INFO first takes a later PONG for its next flush's.
    static func firstAnswers(port: Int, start: WireClient.Start, certificate: String, key: String, ca: String)
        async throws -> [String]
    {
        let client = try await WireClient.connect(
            port: port, start: start, certificate: certificate, key: key, ca: ca, group: ProxyHarness.group)
        let before = try await client.waitFor("\r\n").utf8.count
        try await client.send(
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\nPING\r\n")
        _ = try await client.waitFor("PONG\r\n")
        try await Task.sleep(for: .milliseconds(200))
        let after = String(decoding: Array(client.text.utf8).dropFirst(before), as: UTF8.self)
        await client.close()
        return after.split(separator: "\r\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
            .filter { $0 != "PING" }
    }

    @Test func theFirstPINGsPONGComesBeforeAnyINFOUpdateAsFromNATSServer() async throws {
        try await withWarden { warden in
            let service = warden.layout.serviceDirectory("orders")
            let direct = try await Self.firstAnswers(
                port: warden.nats.port, start: .infoFirst, certificate: warden.layout.upstreamCertificate,
                key: warden.layout.upstreamKey, ca: warden.layout.caCertificate)
            #expect(direct.first == "PONG", "nats-server: \(direct)")
            var seen: [[String]: Int] = [:]
            for round in 0..<20 {
                let through = try await Self.firstAnswers(
                    port: warden.port, start: round % 2 == 0 ? .infoFirst : .handshakeFirst,
                    certificate: service + "/cert.pem", key: service + "/key.pem", ca: service + "/ca.pem")
                seen[through, default: 0] += 1
            }
            #expect(seen.keys.allSatisfy { $0.first == "PONG" }, "nats-server \(direct); through Warden \(seen)")
        }
    }

    /// Where Warden refuses more than nats-server, on purpose:
    /// - a SUB whose subject or queue group is not UTF-8: nats-server subscribes to the bytes, while
    ///   Warden's ACLs are text and would decide something else; refused as an invalid subject, with
    ///   nats-server's permissions text, the connection open.
    @Test func whereWardenRefusesMoreItSaysSoWithNATSServersWords() async throws {
        try await withWarden { warden in
            let service = warden.layout.serviceDirectory("orders")
            let bytes = Array("SUB orders.".utf8) + [0xff] + Array(" 1\r\n".utf8)
            let direct = try await Self.observe(
                bytes, port: warden.nats.port, start: .infoFirst, certificate: warden.layout.upstreamCertificate,
                key: warden.layout.upstreamKey, ca: warden.layout.caCertificate)
            #expect(direct == Outcome(lines: ["PONG"], closed: false))
            let through = try await Self.observe(
                bytes, port: warden.port, start: .infoFirst, certificate: service + "/cert.pem",
                key: service + "/key.pem", ca: service + "/ca.pem")
            #expect(
                through
                    == Outcome(
                        lines: ["-ERR 'Permissions Violation for Subscription to \"orders.\u{FFFD}\"'", "PONG"],
                        closed: false))
        }
    }
}
