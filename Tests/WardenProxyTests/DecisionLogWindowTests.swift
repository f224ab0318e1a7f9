import Foundation
import NATSClient
import Testing
import WardenAudit
import WardenTestSupport

@testable import WardenProxy

/// The decision log's window (`--decision-log-window`): how much Warden lets clients go on with while
/// their records are only in memory, down to none.
@Suite(.serialized)
struct DecisionLogWindowTests {
    /// A disk that refuses every write (`/dev/full`): with the default window, Warden passes on a publish
    /// whose record it cannot write and answers the PING after it (up to the window); with a window of 0
    /// it passes on nothing and answers nothing, and the connection stays open, waiting for the disk.
    ///
    /// The client speaks the protocol by hand: nats.c 3.4's connect never times out when the PONG to its
    /// CONNECT's PING does not come (its `_readProto` reads on past `NATS_TIMEOUT`).
    @Test(arguments: [(8 << 20, true), (0, false)])
    func whatLeavesWardenWhileTheDiskRefusesRecords(window: Int, passedOn: Bool) async throws {
        try await withWarden(logHighWater: window, logPath: "/dev/full") { warden in
            // A subscriber straight at nats-server sees whatever Warden passes on.
            let direct = try NATSClient(
                NATSClient.Options(
                    url: "tls://127.0.0.1:\(warden.nats.port)", caFile: warden.layout.caCertificate,
                    certificateFile: warden.layout.upstreamCertificate, keyFile: warden.layout.upstreamKey,
                    name: "direct"))
            let seen = try direct.subscribe("orders.>")
            try direct.flush()
            let folder = warden.layout.serviceDirectory("orders")
            let client = try await WireClient.connect(
                port: warden.port, start: .infoFirst, certificate: folder + "/cert.pem", key: folder + "/key.pem",
                ca: folder + "/ca.pem", group: ProxyHarness.group)
            try await client.send("CONNECT {\"verbose\":false}\r\nPUB orders.created 10\r\nunrecorded\r\nPING\r\n")
            let answered = try await client.waitFor("PONG", timeout: .seconds(2))
            #expect(answered.contains("PONG") == passedOn, "\(answered)")
            #expect((seen.next(timeoutMilliseconds: 1000)?.text == "unrecorded") == passedOn)
            #expect(!client.isClosed)
            #expect(warden.log.bytesWritten == 0)
            await client.close()
            direct.close()
        }
    }

    /// With a window of 0, whatever a client sees of an operation, its record is in the file already: the
    /// subscriber reads each message only after the publish's record was written.
    @Test func withAWindowOfZeroEveryDeliveryFollowsItsRecordInTheFile() async throws {
        try await withWarden(logHighWater: 0) { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()
            let orders = try warden.client("orders")
            for index in 0..<50 {
                try orders.publish("orders.n\(index)", "\(index)")
                let message = try #require(subscription.next(timeoutMilliseconds: 5000))
                let log = (try? String(contentsOfFile: warden.logPath, encoding: .utf8)) ?? ""
                #expect(
                    log.contains(#""op":"pub""#) && log.contains(#""subject":"\#(message.subject)""#),
                    "the record of \(message.subject) is not in the file when it is delivered")
            }
            payments.close()
            orders.close()
        }
    }
}
