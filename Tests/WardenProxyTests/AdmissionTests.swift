import Foundation
import NATSClient
import Testing
import WardenAudit
import WardenPKI
import WardenTestSupport

/// Who gets in: only clients with a live certificate from Warden's CA, over TLS. Every attempt is a
/// `connect` record; a refused client gets nothing through to NATS.
@Suite(.serialized)
struct AdmissionTests {
    func refusals(_ warden: ProxyHarness, count: Int) async throws -> [DecisionLogEntry] {
        try await warden.waitForRecords {
            $0.filter { $0["op"] as? String == "connect" && $0["decision"] as? String == "deny" }.count >= count
        }.filter { $0["op"] as? String == "connect" && $0["decision"] as? String == "deny" }
    }

    @Test func aPlaintextClientIsRefusedWithTheNATSErrorAndNothingReachesNATS() async throws {
        try await withWarden { warden in
            let observer = try warden.client("orders")
            let subscription = try observer.subscribe("orders.>")
            try observer.flush()

            let raw = try RawConnection(port: warden.port)
            let info = raw.receive(for: 1).text
            #expect(info.hasPrefix("INFO {"))
            raw.send("CONNECT {\"verbose\":false}\r\nPUB orders.created 5\r\nhello\r\nPING\r\n")
            let reply = raw.receive(for: 2)
            #expect(reply.text.contains("-ERR 'Secure Connection - TLS Required'"))
            #expect(reply.closedByPeer)
            #expect(subscription.next(timeoutMilliseconds: 300) == nil)

            let refused = try #require(try await self.refusals(warden, count: 1).first)
            #expect(refused.service == nil)
            #expect((refused["reason"] as? String)?.contains("plaintext") == true)
            #expect(try await warden.records(op: "pub").isEmpty)
        }
    }

    @Test func aClientWithoutACertificateIsRefused() async throws {
        try await withWarden { warden in
            var options = warden.options("orders")
            options.certificateFile = nil
            options.keyFile = nil
            #expect(throws: NATSClient.Failure.self) { try NATSClient(options) }
            let refused = try #require(try await self.refusals(warden, count: 1).first)
            #expect(refused["reason"] as? String == "no client certificate")
        }
    }

    @Test func aCertificateFromAnotherCAIsRefused() async throws {
        try await withWarden { warden in
            let other = try TemporaryDirectory()
            let layout = CertsLayout(root: other.appending("certs"))
            let foreign = try CertificateAuthority.initialize(layout: layout, trustDomain: "test.warden")
            try foreign.enroll(service: "orders", lifetime: .seconds(3600))
            var options = warden.options("orders")
            options.certificateFile = layout.serviceDirectory("orders") + "/cert.pem"
            options.keyFile = layout.serviceDirectory("orders") + "/key.pem"
            #expect(throws: NATSClient.Failure.self) { try NATSClient(options) }
            let refused = try #require(try await self.refusals(warden, count: 1).first)
            #expect((refused["reason"] as? String)?.hasPrefix("untrusted_issuer") == true)
        }
    }

    @Test func aRevokedCertificateIsRefusedAndALiveConnectionIsToldAndClosedWithinFiveSeconds() async throws {
        try await withWarden { warden in
            let live = try warden.client("orders")
            try live.flush()
            let admitted = try #require(
                try await warden.records(op: "connect").first { $0["service"] as? String == "orders" })
            let payments = try warden.client("payments")
            try warden.authority.revoke(service: "orders")

            let clock = ContinuousClock()
            let start = clock.now
            while !live.isClosed && clock.now - start < .seconds(6) { try await Task.sleep(for: .milliseconds(50)) }
            #expect(live.isClosed)
            #expect(clock.now - start < .seconds(5))
            // As nats-server tells a user whose credential was revoked: clients know not to retry.
            #expect(live.lastError?.contains("User Authentication Revoked") == true)

            #expect(throws: NATSClient.Failure.self) { try warden.client("orders") }
            let refusals = try await self.refusals(warden, count: 2)
            #expect(refusals.count == 2)
            // The live connection's withdrawal is a record of its own, under the connection's id.
            let withdrawn = try #require(refusals.first { $0["conn"] as? Int == admitted["conn"] as? Int })
            let serial = try #require(admitted["serial"] as? String)
            #expect(withdrawn["reason"] as? String == "revoked: certificate serial \(serial) was revoked")
            #expect(withdrawn["service"] as? String == "orders")
            #expect(withdrawn["serial"] as? String == serial)
            #expect(withdrawn["identity"] as? String == "spiffe://test.warden/service/orders")
            #expect(withdrawn["rule"] as? String == "mtls")
            #expect(withdrawn["mode"] as? String == "enforce")
            #expect(withdrawn["peer"] as? String == admitted["peer"] as? String)
            // The new attempt is refused at the handshake.
            let refused = try #require(refusals.first { $0["conn"] as? Int != admitted["conn"] as? Int })
            #expect((refused["reason"] as? String)?.hasPrefix("revoked") == true)
            // Other services are unaffected.
            try payments.publish("payments.completed", "still here")
            try payments.flush()
        }
    }

    @Test func aLiveConnectionWhoseCredentialExpiresIsToldAndClosed() async throws {
        try await withWarden { warden in
            // The shortest credential Warden issues lives a minute: this one was issued 57 s ago.
            let entry = try warden.authority.enroll(service: "payments", lifetime: .seconds(60), now: Date() - 57)
            // Warden takes in the new credential now rather than at its next check.
            warden.server.checkCredentials()
            let live = try warden.client("payments")
            try live.flush()
            let observer = try warden.client("orders")
            #expect(await eventually(timeout: .seconds(8)) { live.isClosed })
            // Not before the certificate's end of validity, which is in whole seconds.
            #expect(Date().timeIntervalSince1970 > entry.notAfter.timeIntervalSince1970.rounded(.down))
            #expect(live.lastError?.contains("User Authentication Expired") == true)

            let withdrawn = try #require(try await self.refusals(warden, count: 1).first)
            #expect(withdrawn["service"] as? String == "payments")
            #expect(withdrawn["serial"] as? String == entry.serial)
            #expect((withdrawn["reason"] as? String)?.hasPrefix("expired: certificate expired at ") == true)
            #expect(!observer.isClosed)
        }
    }

    @Test func aServiceConnectingStraightToTheLockedNATSServerIsRefused() async throws {
        try await withWarden { warden in
            var options = warden.options("orders")
            options.url = "tls://127.0.0.1:\(warden.nats.port)"
            #expect {
                try NATSClient(options)
            } throws: { error in
                "\(error)".contains("Authorization Violation")
            }
        }
    }

    @Test func aClientThatNeverStartsTLSIsRefusedAfterTheHandshakeTimeout() async throws {
        try await withWarden(handshakeTimeout: .seconds(5)) { warden in
            let raw = try RawConnection(port: warden.port)
            // Reads INFO, then sends nothing: the handshake deadline closes the connection.
            let received = raw.receive(for: 7)
            #expect(received.closedByPeer)
            let refused = try #require(try await self.refusals(warden, count: 1).first)
            #expect((refused["reason"] as? String)?.contains("no verified TLS session") == true)
        }
    }
}
