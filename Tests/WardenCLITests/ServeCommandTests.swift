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

    @Test func SIGHUPReloadsTheACLsAndACLsWithErrorsAreReportedAndNotLoaded() async throws {
        let directory = try TemporaryDirectory()
        #expect(try warden(["init"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "orders"], in: directory.path).status == 0)
        let acls = directory.appending("acls")
        try FileManager.default.createDirectory(atPath: acls, withIntermediateDirectories: true)
        func write(_ file: String, publish: String) throws {
            try "services:\n  orders:\n    publish:\n      allow: [\"\(publish)\"]\n"
                .write(toFile: acls + "/" + file, atomically: true, encoding: .utf8)
        }
        try write("orders.yaml", publish: "orders.>")
        let port = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            ["serve", "--acls", "acls", "--listen", "127.0.0.1:\(port)", "--no-audit-events"], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")

        let client = try Self.connect("orders", port: port, in: directory)
        try client.publish("billing.due", "1")
        try client.flush()

        // A second file defining orders again: reported with its file:line, and nothing changes.
        try write("again.yaml", publish: "billing.>")
        kill(process.processIdentifier, SIGHUP)
        #expect(
            await eventually(timeout: .seconds(10)) { Self.read(stderr).contains("ACL reload failed") },
            "\(Self.read(stderr))")
        #expect(
            Self.read(stderr).contains(#"acls/orders.yaml:2: service "orders" is already defined at acls/again.yaml:2"#)
        )
        #expect(process.isRunning)
        try client.publish("billing.due", "2")
        try client.flush()

        try FileManager.default.removeItem(atPath: acls + "/again.yaml")
        try write("orders.yaml", publish: "billing.>")
        kill(process.processIdentifier, SIGHUP)
        #expect(
            await eventually(timeout: .seconds(10)) { Self.read(stderr).contains("ACLs reloaded") },
            "\(Self.read(stderr))")
        // The same connection, decided by the new ACLs.
        try client.publish("billing.due", "3")
        try client.flush()

        client.close()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
        let decisions = Self.read(directory.appending("logs/decisions.jsonl")).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let billing = decisions.filter { $0["subject"] as? String == "billing.due" }
        #expect(billing.map { $0["decision"] as? String } == ["deny", "deny", "allow"])
        #expect((billing.last?["rule"] as? String)?.hasPrefix("acls/orders.yaml:4 ") == true)
    }

    @Test func SIGUSR2IsLameDuckModeClientsAreToldAndClosedOverTheDurationAndWardenExitsZero() async throws {
        let directory = try TemporaryDirectory()
        #expect(try warden(["init"], in: directory.path).status == 0)
        #expect(try warden(["enroll", "orders"], in: directory.path).status == 0)
        let port = try Loopback.freePort()
        let (process, _, stderr) = try Self.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--no-audit-events",
                "--lame-duck-duration", "2s",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(Self.read(stderr))")

        let events = NIOLockedValueBox<[Int: [NATSClient.ConnectionEvent]]>([:])
        var clients: [NATSClient] = []
        for index in 0..<4 {
            let folder = directory.appending("certs/services/orders")
            var options = NATSClient.Options(
                url: "tls://127.0.0.1:\(port)", caFile: folder + "/ca.pem", certificateFile: folder + "/cert.pem",
                keyFile: folder + "/key.pem")
            options.persistent = true
            options.onConnectionEvent = { event in events.withLockedValue { $0[index, default: []].append(event) } }
            let client = try NATSClient(options)
            try client.publish("orders.created", "client \(index)")
            try client.flush(timeoutMilliseconds: 5000)
            clients.append(client)
        }

        kill(process.processIdentifier, SIGUSR2)
        // Told first (INFO ldm), then closed, each of them; new connections are refused meanwhile.
        #expect(
            await eventually(timeout: .seconds(10)) {
                events.withLockedValue { all in
                    (0..<4).allSatisfy {
                        all[$0]?.contains(.lameDuck) == true && all[$0]?.contains(.disconnected) == true
                    }
                }
            }, "\(events.withLockedValue { $0 })")
        #expect(
            events.withLockedValue { all in
                (0..<4).allSatisfy {
                    all[$0]?.firstIndex(of: .lameDuck) ?? 99 < all[$0]?.firstIndex(of: .disconnected) ?? 0
                }
            })
        #expect(!Loopback.isListening(port: port))
        #expect(await eventually(timeout: .seconds(15)) { !process.isRunning }, "\(Self.read(stderr))")
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
        #expect(Self.read(stderr).contains("lame duck mode: every client is closed"))
        // The last records are written: every publish has its record.
        let log = Self.read(directory.appending("logs/decisions.jsonl"))
        #expect(log.components(separatedBy: #""op":"pub""#).count - 1 == 4)
        for client in clients { #expect(!client.isClosed) }
    }

    @Test func SIGUSR1ReopensTheDecisionLogForRotation() async throws {
        let directory = try TemporaryDirectory()
        let (process, port, stderr) = try Self.startEnrolledServe(in: directory)
        defer { if process.isRunning { process.terminate() } }
        let path = directory.appending("logs/decisions.jsonl")
        let rotated = directory.appending("logs/decisions.jsonl.1")

        let client = try Self.connect("orders", port: port, in: directory)
        try client.publish("orders.created", "before")
        try client.flush()
        #expect(await eventually(timeout: .seconds(10)) { Self.read(path).contains(#""subject":"orders.created""#) })
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        kill(process.processIdentifier, SIGUSR1)
        #expect(
            await eventually(timeout: .seconds(10)) { Self.read(stderr).contains("decision log reopened") },
            "\(Self.read(stderr))")
        #expect(process.isRunning)
        // The same connection; its records now go to the new file.
        try client.publish("orders.shipped", "after")
        try client.flush()

        client.close()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(Self.read(stderr))")
        let before = Self.read(rotated)
        let after = Self.read(path)
        #expect(before.contains(#""subject":"orders.created""#) && !before.contains("orders.shipped"))
        #expect(after.contains(#""subject":"orders.shipped""#) && !after.contains("orders.created"))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o640)
    }

    /// A decision record as one line of the log.
    static func line(_ decision: String, _ service: String?, _ op: String, _ subject: String?, reason: String? = nil)
        -> String
    {
        var object: [String: Any] = [
            "ts": "2026-11-22T10:00:00.000000Z", "decision": decision, "op": op, "service": service ?? NSNull(),
            "conn": 1, "peer": "127.0.0.1:1", "mode": "enforce", "rule": "default deny",
        ]
        if let subject { object["subject"] = subject }
        if let reason { object["reason"] = reason }
        return String(
            decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
    }

    @Test func denialsSummarisesByServiceOpAndSubjectAndFollowsNewDenials() async throws {
        let directory = try TemporaryDirectory()
        func line(_ decision: String, _ service: String?, _ op: String, _ subject: String?, reason: String? = nil)
            -> String
        {
            Self.line(decision, service, op, subject, reason: reason)
        }
        let path = directory.appending("d.jsonl")
        let initial =
            line("deny", "orders", "pub", "billing.x") + line("allow", "orders", "pub", "orders.a")
            + line("deny", "orders", "pub", "billing.x") + line("deny", "payments", "sub", "orders.>")
            + line("deny", nil, "connect", nil, reason: "no client certificate") + "not json\n"
        try initial.write(toFile: path, atomically: true, encoding: .utf8)

        let summary = try warden(["denials", "--decision-log", path])
        #expect(summary.status == 0)
        let rows = summary.stdout.split(separator: "\n")
        #expect(rows.first == "4 denied of 5 decisions in \(path)")
        #expect(rows.count == 5)
        #expect(rows[2].hasPrefix("2      orders          pub      billing.x"))
        #expect(summary.stdout.contains("(unidentified)  connect  no client certificate"))
        #expect(summary.stderr.contains("skipped 1 line"))

        let missing = try warden(["denials", "--decision-log", directory.appending("none.jsonl")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read the decision log"))

        let (follower, stdout, _) = try Self.start(["denials", "--decision-log", path, "--follow"], in: directory)
        defer { if follower.isRunning { follower.terminate() } }
        _ = await eventually(timeout: .seconds(5), every: .milliseconds(20)) { Self.read(stdout).contains("following") }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(line("allow", "orders", "pub", "orders.b").utf8))
        handle.write(Data(line("deny", "payments", "sub", "orders.>", reason: "acl reload").utf8))
        handle.write(Data(line("deny", "inventory", "pub", "live.subject").utf8))
        try handle.close()
        _ = await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
            Self.read(stdout).contains("live.subject")
        }
        let followed = Self.read(stdout)
        #expect(followed.contains("inventory  pub  live.subject  default deny\n"))
        #expect(followed.contains("payments  sub  orders.>  default deny [acl reload]\n"))
        #expect(!followed.contains("orders.b"))
        follower.terminate()
    }

    @Test func denialsReadsALogManyTimesItsReadChunkWithLinesAcrossChunks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        var text = ""
        for index in 0..<30_000 {
            text += Self.line("allow", "orders", "pub", "orders.created.\(index)")
            if index % 30 == 0 { text += Self.line("deny", "orders", "pub", "billing.\(index % 4)") }
        }
        // A denial whose subject holds the allow field's text, escaped: it is still a denial.
        text += Self.line("deny", "payments", "pub", #"x"decision":"allow""#)
        // Not a decision record, and longer than any: skipped without being held whole.
        text += String(repeating: "x", count: 3 << 20) + "\n"
        text += Self.line("deny", "payments", "pub", "after.the.long.line")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(text.utf8.count > 4 << 20)
        let summary = try warden(["denials", "--decision-log", path])
        #expect(summary.status == 0)
        #expect(summary.stdout.hasPrefix("1002 denied of 31002 decisions in \(path)\n"), "\(summary.stdout)")
        #expect(summary.stdout.contains("after.the.long.line"))
        #expect(summary.stdout.contains(/\n500\s+orders\s+pub\s+billing\.0\s/))
        #expect(summary.stdout.contains(/\n500\s+orders\s+pub\s+billing\.2\s/))
        #expect(summary.stdout.contains(#"x"decision":"allow""#))
        #expect(summary.stderr.contains("skipped 1 line(s) that are not decision records"))
    }

    @Test func denialsFollowsTheLogAcrossRotationByMoveAndByTruncation() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        try Self.line("deny", "orders", "pub", "old.one").write(toFile: path, atomically: true, encoding: .utf8)
        let (follower, stdout, _) = try Self.start(["denials", "--decision-log", path, "--follow"], in: directory)
        defer { if follower.isRunning { follower.terminate() } }
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) { Self.read(stdout).contains("following") }
        )
        func append(_ text: String, to file: String) throws {
            let handle = try #require(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try handle.close()
        }
        try append(Self.line("deny", "orders", "pub", "before.move"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("before.move")
            })
        // Moved away; Warden writes a little more to it before it reopens the path (SIGUSR1).
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try append(Self.line("deny", "orders", "pub", "late.in.old"), to: path + ".1")
        try Self.line("deny", "orders", "pub", "first.in.new").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("first.in.new")
            })
        // Copied and truncated in place.
        try append(Self.line("deny", "orders", "pub", "second.in.new"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("second.in.new")
            })
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try await Task.sleep(for: .milliseconds(300))
        try append(Self.line("deny", "orders", "pub", "after.truncation"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("after.truncation")
            })
        let followed = Self.read(stdout).split(separator: "\n").drop { !$0.hasPrefix("following") }.dropFirst()
        let subjects = followed.compactMap { line in line.split(separator: "  ").dropFirst(3).first.map(String.init) }
        #expect(subjects == ["before.move", "late.in.old", "first.in.new", "second.in.new", "after.truncation"])
        follower.terminate()
    }
}
