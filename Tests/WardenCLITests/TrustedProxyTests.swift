import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenTestSupport

/// `warden nats-config --trusted-proxy`: nats-server (2.12+) admits Warden's user only on connections that
/// Warden signed as its trusted proxy, so Warden's certificate alone no longer gets anyone in.
@Suite(.serialized)
struct TrustedProxyTests {
    @Test func natsServerAdmitsWardensSignedConnectionsAndRefusesItsCertificateAlone() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let natsPort = try Loopback.freePort()
        let generated = try warden(
            ["nats-config", "--listen", "127.0.0.1:\(natsPort)", "--no-jetstream", "--trusted-proxy"],
            in: directory.path)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout.contains("proxy_required: true") && generated.stdout.contains("proxies {"))
        #expect(try fileMode(directory.appending("certs/warden/proxy.nk")) == 0o600)
        let nats = try NATSServerProcess(
            configuration: generated.stdout, port: natsPort, folder: directory.appending("nats"))
        defer { nats.stop() }
        let port = try Loopback.freePort()
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--upstream",
                "tls://127.0.0.1:\(natsPort)", "--no-audit-events", "--no-peers",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")

        // Through Warden, services work.
        let payments = try ServeCommandTests.connect("payments", port: port, in: directory)
        let created = try payments.subscribe("orders.created")
        try payments.flush()
        let orders = try ServeCommandTests.connect("orders", port: port, in: directory)
        try orders.publish("orders.created", "signed")
        try orders.flush()
        #expect(created.next(timeoutMilliseconds: 5000)?.text == "signed", "\(nats.logTail)")

        // Straight to nats-server with Warden's own certificate and key, but no signature: refused.
        var options = NATSClient.Options(
            url: "tls://127.0.0.1:\(natsPort)", caFile: directory.appending("certs/ca/ca.pem"),
            certificateFile: directory.appending("certs/warden/client.pem"),
            keyFile: directory.appending("certs/warden/client-key.pem"))
        options.timeoutMilliseconds = 5000
        #expect {
            _ = try NATSClient(options)
        } throws: { error in
            "\(error)".contains("Authorization Violation")
        }
        payments.close()
        orders.close()
    }
}
