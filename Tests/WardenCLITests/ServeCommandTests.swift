import Foundation
import NIOConcurrencyHelpers
import NATSClient
import Testing
import WardenPKI
import WardenTestSupport

@testable import WardenAudit

/// `warden serve` and `warden denials` as a user runs them: the built binary, the shipped ACLs, a
/// local nats-server started by Warden itself, SIGTERM to stop.
@Suite(.serialized)
struct ServeCommandTests {
    /// Starts `warden ARGUMENTS` in the background with its output in files.
    static func start(_ arguments: [String], in directory: TemporaryDirectory) throws -> (Process, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wardenExecutable())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        let out = directory.appending("stdout-\(UUID().uuidString)")
        let err = directory.appending("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        return (process, out, err)
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// `warden init` and `warden enroll orders` in `directory`, then `warden serve` of the shipped ACLs,
    /// without audit events, on a free port; returns once it listens (the caller stops it).
    static func startEnrolledServe(in directory: TemporaryDirectory) throws -> (
        process: Process, port: Int, stderr: String
    ) {
        #expect(try warden(["init"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "orders"], in: directory.path).status == 0)
        let port = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            ["serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--no-audit-events"], in: directory)
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")
        return (process, port, stderr)
    }

    /// A nats.c client of `service`, enrolled in `directory`, connected to the Warden on `port`.
    static func connect(_ service: String, port: Int, in directory: TemporaryDirectory) throws -> NATSClient {
        let folder = directory.appending("certs/services/\(service)")
        var options = NATSClient.Options(
            url: "tls://127.0.0.1:\(port)", caFile: folder + "/ca.pem", certificateFile: folder + "/cert.pem",
            keyFile: folder + "/key.pem")
        options.timeoutMilliseconds = 5000
        return try NATSClient(options)
    }

    @Test func serveWithoutUpstreamRunsALocalNATSServerEnforcesAndStopsCleanlyOnSIGTERM() async throws {
        let directory = try TemporaryDirectory()
        #expect(try warden(["init"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "orders"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "security"], in: directory.path).status == 0)
        let port = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            ["serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)"], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")

        func connect(_ service: String) throws -> NATSClient { try Self.connect(service, port: port, in: directory) }
        // The shipped `security` service watches denials live, on the audit subjects.
        let security = try connect("security")
        let auditEvents = try security.subscribe("warden.audit.>")
        try security.flush()
        let client = try connect("orders")
        try client.publish("orders.created", "ok")
        try client.publish("orders.internal.audit", "no")
        try client.flush()
        let event = auditEvents.next(timeoutMilliseconds: 10_000)
        #expect(event?.subject == "warden.audit.deny.pub.orders")
        #expect(event?.text.contains(#""subject":"orders.internal.audit""#) == true)

        let upstream = try #require(Self.read(stderr).firstMatch(of: /tls:\/\/127\.0\.0\.1:(\d+)/).map { Int($0.1)! })
        #expect(Loopback.isListening(port: upstream))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
        #expect(!Loopback.isListening(port: upstream), "the local nats-server outlived Warden")

        // Every decision is on disk after a graceful stop, at the default path.
        let log = Self.read(directory.appending("logs/decisions.jsonl"))
        let records = log.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(records.count == log.split(separator: "\n").count)
        #expect(records.contains { $0["op"] as? String == "connect" && $0["decision"] as? String == "allow" })
        #expect(
            records.contains { $0["subject"] as? String == "orders.created" && $0["decision"] as? String == "allow" })
        #expect(
            records.contains {
                $0["subject"] as? String == "orders.internal.audit" && $0["decision"] as? String == "deny"
            })

        let denials = try warden(["denials"], in: directory.path)
        #expect(denials.status == 0)
        // Two denials: the publish, and the readiness probe above, which connected without TLS.
        #expect(denials.stdout.hasPrefix("2 denied of \(records.count) decisions in logs/decisions.jsonl"))
        #expect(denials.stdout.contains(/\n1\s+orders\s+pub\s+orders\.internal\.audit\s/))
        #expect(denials.stdout.contains(/\(unidentified\)\s+connect\s+closed before starting TLS/))
    }

    @Test func serveRefusesInvalidACLsAndMissingCredentialsWithAClearError() throws {
        let directory = try TemporaryDirectory()
        let noCerts = try warden(["serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:1"], in: directory.path)
        #expect(noCerts.status == 1)
        #expect(noCerts.stderr.contains("warden init"))

        try FileManager.default.createDirectory(atPath: directory.appending("bad"), withIntermediateDirectories: true)
        try "services:\n  x:\n    publish: [\"a..b\"]\n".write(
            toFile: directory.appending("bad/x.yaml"), atomically: true, encoding: .utf8)
        let badACL = try warden(["serve", "--acls", "bad"], in: directory.path)
        #expect(badACL.status == 1)
        #expect(badACL.stderr.contains("bad/x.yaml:3:"))

        let badUpstream = try warden(["serve", "--upstream", "http://x"], in: directory.path)
        #expect(badUpstream.status != 0)
        #expect(badUpstream.stderr.contains("--upstream must be tls://HOST:PORT"))

        let badMetrics = try warden(["serve", "--metrics", "9464"], in: directory.path)
        #expect(badMetrics.status != 0)
        #expect(badMetrics.stderr.contains("--metrics must be HOST:PORT"))

        for rate in ["0", "-5", "99999999999", "fast"] {
            let badRate = try warden(["serve", "--audit-rate", rate], in: directory.path)
            #expect(badRate.status != 0)
            #expect(badRate.stderr.contains("--audit-rate"))
        }

        for window in ["-1", "8XB", "lots", "9999999999999", "999999999999GB"] {
            let badWindow = try warden(["serve", "--decision-log-window=\(window)"], in: directory.path)
            #expect(badWindow.status != 0)
            #expect(badWindow.stderr.contains("--decision-log-window must be a size"), "\(badWindow.stderr)")
        }
    }

    @Test func serveWithMetricsServesPrometheusTextAndStopsWhenItsPortIsTaken() async throws {
        let directory = try TemporaryDirectory()
        #expect(try warden(["init"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "orders"], in: directory.path).status == 0)
        let port = try Loopback.freePort()
        let metricsPort = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--metrics",
                "127.0.0.1:\(metricsPort)",
                "--no-audit-events",
            ],
            in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")
        #expect(Loopback.waitUntilListening(port: metricsPort, timeout: 5), "\(Self.read(stderr))")

        let client = try Self.connect("orders", port: port, in: directory)
        try client.publish("orders.created", "ok")
        try client.publish("orders.internal.audit", "no")
        try client.flush()

        let metrics = try HTTPProbe.request(port: metricsPort, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("# TYPE warden_decisions_total counter"))
        #expect(
            metrics.body.contains(
                #"warden_decisions_total{service="orders",op="pub",decision="allow",mode="enforce"} 1"#))
        #expect(
            metrics.body.contains(
                #"warden_decisions_total{service="orders",op="pub",decision="deny",mode="enforce"} 1"#))
        #expect(metrics.body.contains(#"warden_connections{service="orders"} 1"#))
        // --no-audit-events: no audit connection, so no audit metrics.
        #expect(!metrics.body.contains("warden_audit_"))

        // A second Warden whose metrics port is taken stops at once, with the reason, and leaves no
        // nats-server behind.
        let (second, _, secondError) = try Self.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(try Loopback.freePort())", "--metrics",
                "127.0.0.1:\(metricsPort)",
            ],
            in: directory)
        defer { if second.isRunning { second.terminate() } }
        #expect(await eventually(timeout: .seconds(20)) { !second.isRunning }, "\(Self.read(secondError))")
        #expect(second.terminationStatus == 1)
        #expect(Self.read(secondError).contains("cannot listen for metrics on 127.0.0.1:\(metricsPort)"))
        if let upstream = Self.read(secondError).firstMatch(of: /tls:\/\/127\.0\.0\.1:(\d+)/).map({ Int($0.1)! }) {
            #expect(!Loopback.isListening(port: upstream), "the second Warden's nats-server outlived it")
        }

        client.close()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
    }

    @Test func renewThenSIGHUPGivesNewConnectionsTheRenewedCertificates() async throws {
        let directory = try TemporaryDirectory()
        let uninitialized = try warden(["renew"], in: directory.path)
        #expect(uninitialized.status == 1)
        #expect(uninitialized.stderr.contains("warden init"))

        let (process, port, stderr) = try Self.startEnrolledServe(in: directory)
        defer { if process.isRunning { process.terminate() } }
        let live = try Self.connect("orders", port: port, in: directory)
        try live.flush()

        let before = Self.read(directory.appending("certs/warden/server.pem"))
        let renewed = try warden(["renew"], in: directory.path)
        #expect(renewed.status == 0, "\(renewed.stderr)")
        #expect(renewed.stdout.contains("(for localhost, 127.0.0.1, ::1)"))
        #expect(renewed.stdout.contains("SIGHUP"))
        #expect(!renewed.stdout.contains("PRIVATE KEY"))
        #expect(Self.read(directory.appending("certs/warden/server.pem")) != before)

        kill(process.processIdentifier, SIGHUP)
        #expect(
            await eventually(timeout: .seconds(10)) {
                Self.read(stderr).contains("Warden's certificates reloaded")
            }, "\(Self.read(stderr))")
        // Two years ahead: nothing to warn about.
        #expect(!Self.read(stderr).contains("expires soon"))
        let fresh = try Self.connect("orders", port: port, in: directory)
        try fresh.publish("orders.created", "after the renewal")
        try fresh.flush()
        try live.publish("orders.created", "the connection from before")
        try live.flush()
        fresh.close()
        live.close()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
    }

    @Test func serveWarnsWhenWardensOwnCertificatesExpireSoonAndShowsWhenInMetrics() async throws {
        let directory = try TemporaryDirectory()
        // Warden's own certificates live two years: these were issued 720 days ago, 10 days are left.
        let issued = Date().addingTimeInterval(-720 * 86400)
        try CertificateAuthority.initialize(layout: CertsLayout(root: directory.appending("certs")), now: issued)
        let port = try Loopback.freePort()
        let metricsPort = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--metrics",
                "127.0.0.1:\(metricsPort)",
                "--no-audit-events",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")
        #expect(Loopback.waitUntilListening(port: metricsPort, timeout: 5), "\(Self.read(stderr))")
        // Logged right after the listener binds, so perhaps a moment after the port answers.
        #expect(
            await eventually(timeout: .seconds(5)) {
                Self.read(stderr).contains("Warden's upstream certificate expires soon")
            }, "\(Self.read(stderr))")
        #expect(Self.read(stderr).contains("Warden's listener certificate expires soon: run `warden renew`"))

        let metrics = try HTTPProbe.request(port: metricsPort, path: "/metrics").body
        let line = metrics.split(separator: "\n").first {
            $0.hasPrefix(#"warden_certificate_not_after_timestamp_seconds{certificate="listener"} "#)
        }
        let notAfter = try #require(line.flatMap { Double($0.split(separator: " ").last ?? "") })
        let left = notAfter - Date().timeIntervalSince1970
        #expect(left > 9 * 86400 && left < 11 * 86400, "\(left) s left")
        process.terminate()
        process.waitUntilExit()
    }
}
