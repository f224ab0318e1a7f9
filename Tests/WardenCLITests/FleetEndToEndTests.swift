import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenTestSupport

/// `warden fleet push`, `warden revoke --nats` and `warden serve --fleet` as users run them: two Wardens
/// following the bucket WARDEN on a three-server JetStream cluster, real nats.c services through each.
@Suite(.serialized)
struct FleetEndToEndTests {
    /// The shipped ACLs copied to `name` in `directory`, with `orders.created` denied to orders when `deny`.
    static func acls(_ name: String, in directory: TemporaryDirectory, denyOrdersCreated deny: Bool) throws -> String {
        let folder = directory.appending(name)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: repositoryACLs) where file.hasSuffix(".yaml") {
            var text = try String(contentsOfFile: "\(repositoryACLs)/\(file)", encoding: .utf8)
            if deny, file == "orders.yaml" {
                text = text.replacingOccurrences(
                    of: #"deny: ["orders.internal.>"]"#, with: #"deny: ["orders.internal.>", "orders.created"]"#)
            }
            try text.write(toFile: "\(folder)/\(file)", atomically: true, encoding: .utf8)
        }
        return folder
    }

    /// `warden ARGUMENTS` in `directory`, expected to succeed; its standard output.
    @discardableResult
    static func run(_ arguments: [String], in directory: TemporaryDirectory) throws -> String {
        let result = try warden(arguments, in: directory.path)
        #expect(result.status == 0, "warden \(arguments.joined(separator: " ")): \(result.stderr)")
        return result.stdout
    }

    /// `warden serve --fleet` on `port` in front of `upstream`, keeping its last state in `state`.
    static func serveFleet(
        _ directory: TemporaryDirectory, upstream: String, port: Int, state: String, _ extra: [String] = []
    ) throws -> (process: Process, stderr: String) {
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--fleet", "--state-dir", state, "--listen", "127.0.0.1:\(port)", "--upstream", upstream,
                "--no-audit-events", "--decision-log", "logs/decisions-\(port).jsonl",
            ] + extra, in: directory)
        return (process, stderr)
    }

    /// Whether a publish of `orders.created` by `client` is refused by its Warden now.
    static func publishIsDenied(_ client: NATSClient) -> Bool {
        let before = client.asyncErrors.count
        try? client.publish("orders.created", "probe")
        try? client.flush(timeoutMilliseconds: 1000)
        return client.asyncErrors.dropFirst(before).contains { $0.contains("Permissions Violation") }
    }

    /// The bucket's current bundle, as Warden's identity reads it straight from NATS.
    static func bucket(_ directory: TemporaryDirectory, upstream: String) throws -> (NATSClient, KeyValueBucket) {
        let client = try connectAsWarden(directory, upstream: upstream)
        return (client, try KeyValueBucket(client, name: "WARDEN"))
    }

    @Test func aPushAndARevocationReachBothWardensAndForgedOrReplayedBundlesAreRefused() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let cluster = try NATSCluster(in: directory, jetStream: true)
        defer { cluster.stop() }
        let allowing = try Self.acls("acls-v1", in: directory, denyOrdersCreated: false)
        let pushed = try Self.run(["fleet", "push", "--acls", allowing, "--nats", cluster.upstream], in: directory)
        #expect(pushed.contains("pushed fleet state version 1"), "\(pushed)")

        let ports = try (0..<2).map { _ in try Loopback.freePort() }
        let metricsPort = try Loopback.freePort()
        let wardens = try ports.enumerated().map { index, port in
            try Self.serveFleet(
                directory, upstream: cluster.upstream, port: port, state: "state-\(index)",
                index == 0 ? ["--metrics", "127.0.0.1:\(metricsPort)", "--audit-stream", "--instance", "w0"] : [])
        }
        defer { for (process, _) in wardens where process.isRunning { process.terminate() } }
        for (index, port) in ports.enumerated() {
            #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(wardens[index].1))")
        }
        let clients = try ports.map { try ServeCommandTests.connect("orders", port: $0, in: directory) }
        #expect(clients.allSatisfy { !Self.publishIsDenied($0) })

        // The ACL change: denied through both Wardens within 2 s of the push.
        let denying = try Self.acls("acls-v2", in: directory, denyOrdersCreated: true)
        try Self.run(["fleet", "push", "--acls", denying, "--nats", cluster.upstream], in: directory)
        #expect(await eventually(timeout: .seconds(2)) { clients.allSatisfy { Self.publishIsDenied($0) } })
        let (reader, bucket) = try Self.bucket(directory, upstream: cluster.upstream)
        defer { reader.close() }
        let version2 = try #require(try bucket.get("bundle"))

        // Forged: a bundle written by a NATS client (any valid JSON envelope) not signed by the CA.
        let forged = #"{"payload":"eyJ2ZXJzaW9uIjo5OX0=","signature":"MEUCIQ=="}"#
        _ = try bucket.put("bundle", Array(forged.utf8))
        // Replayed: version 1, signed by the CA, but older than version 2 in force.
        let history = try #require(try bucket.get("bundle"))
        #expect(history.revision > version2.revision)
        try Self.run(["fleet", "push", "--acls", allowing, "--nats", cluster.upstream], in: directory)
        // Version 3 is allowing again; now replay version 2 (denying) over it.
        #expect(await eventually(timeout: .seconds(2)) { clients.allSatisfy { !Self.publishIsDenied($0) } })
        _ = try bucket.put("bundle", version2.value)
        try await Task.sleep(for: .seconds(1))
        #expect(clients.allSatisfy { !Self.publishIsDenied($0) }, "the replayed version 2 must not be in force")
        for (_, stderr) in wardens {
            let log = ServeCommandTests.read(stderr)
            #expect(log.contains("its signature is not the CA's"), "\(log)")
            #expect(log.contains("its version 2 is older than version 3 in force"), "\(log)")
        }
        // Replicated as the cluster allows: three servers, three replicas, for the bucket and the audit stream.
        for stream in ["KV_WARDEN", "WARDEN_AUDIT"] {
            let info = try reader.request("$JS.API.STREAM.INFO.\(stream)", "").text
            #expect(info.contains(#""num_replicas":3"#), "\(stream): \(info)")
        }
        // The first Warden's denials of orders.created are in the stream, and `warden denials --nats` says so.
        var summary = ""
        #expect(
            await eventually(timeout: .seconds(10), every: .milliseconds(250)) {
                let result = try? warden(["denials", "--nats", cluster.upstream], in: directory.path)
                summary = (result?.stdout ?? "") + (result?.stderr ?? "")
                return summary.split(separator: "\n").contains {
                    $0.contains("orders") && $0.contains("orders.created")
                }
                    && summary.contains("from 1 Warden(s): w0")
            }, "\(summary)")
        let metrics = try HTTPProbe.request(port: metricsPort, path: "/metrics").body
        for line in [
            "warden_fleet_state_version 3.0", #"warden_fleet_bundles_refused_total{reason="bad_signature"} 1"#,
            #"warden_fleet_bundles_refused_total{reason="stale"} 1"#, "warden_fleet_state_age_seconds ",
        ] {
            #expect(metrics.contains(line), "\(line) in \(metrics)")
        }

        // A revocation with --nats: orders' connections through both Wardens close within 5 s, and a new
        // one is refused by both.
        let revoked = try Self.run(["revoke", "orders", "--nats", cluster.upstream], in: directory)
        #expect(revoked.contains("in the fleet's bucket too: state version 4"), "\(revoked)")
        #expect(await eventually(timeout: .seconds(5)) { clients.allSatisfy { $0.isClosed } })
        for port in ports {
            #expect(throws: NATSClient.Failure.self) {
                try ServeCommandTests.connect("orders", port: port, in: directory)
            }
        }
        // Payments, not revoked, still connects; and `warden fleet status` sees both Wardens on version 4.
        #expect(throws: Never.self) { try ServeCommandTests.connect("payments", port: ports[1], in: directory).close() }
        let status = try warden(["fleet", "status", "--nats", cluster.upstream], in: directory.path)
        #expect(status.status == 0, "\(status.stdout) \(status.stderr)")
        #expect(status.stdout.components(separatedBy: "current").count == 3, "\(status.stdout)")

        // Enrolled again with --nats: the new credential is admitted by both.
        let enrolled = try Self.run(["enroll", "orders", "--nats", cluster.upstream], in: directory)
        #expect(enrolled.contains("in the fleet's bucket too: state version 5"), "\(enrolled)")
        for port in ports {
            #expect(
                await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
                    (try? ServeCommandTests.connect("orders", port: port, in: directory))?.close() != nil
                })
        }
    }
}

extension FleetEndToEndTests {
    /// One JetStream nats-server as `warden nats-config` configures it, on a free port.
    static func natsServer(in directory: TemporaryDirectory) throws -> NATSServerProcess {
        let port = try Loopback.freePort()
        let config = try Self.run(
            ["nats-config", "--listen", "127.0.0.1:\(port)", "--store-dir", directory.appending("jetstream")],
            in: directory)
        return try NATSServerProcess(configuration: config, port: port, folder: directory.appending("nats"))
    }

    @Test func aWardenStartedWhileNATSIsDownServesItsLastVerifiedCopyAndCatchesUpLater() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let nats = try Self.natsServer(in: directory)
        defer { nats.stop() }
        let upstream = "tls://127.0.0.1:\(nats.port)"

        // With NATS down and no copy kept, there is nothing to serve: Warden does not start.
        nats.stop()
        let refused = try warden(
            [
                "serve", "--fleet", "--state-dir", "state", "--upstream", upstream, "--listen", "127.0.0.1:0",
                "--no-peers",
            ],
            in: directory.path)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("no fleet state to serve"), "\(refused.stderr)")
        #expect(refused.stderr.contains("hint: push the fleet's state first"), "\(refused.stderr)")

        // A first run with NATS up keeps version 1 (allowing orders.created) in the state folder.
        try nats.start()
        let allowing = try Self.acls("acls-v1", in: directory, denyOrdersCreated: false)
        try Self.run(["fleet", "push", "--acls", allowing, "--nats", upstream], in: directory)
        let port = try Loopback.freePort()
        var (process, stderr) = try Self.serveFleet(directory, upstream: upstream, port: port, state: "state")
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")
        process.terminate()
        process.waitUntilExit()

        // NATS down: the restarted Warden serves version 1 from the state folder, and says so.
        nats.stop()
        (process, stderr) = try Self.serveFleet(directory, upstream: upstream, port: port, state: "state")
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")
        #expect(ServeCommandTests.read(stderr).contains("serving the last verified state, version 1"))

        // NATS back: orders is served by version 1; version 2 (denying orders.created) is pushed, and the
        // Warden catches up by itself.
        try nats.start()
        let client = try ServeCommandTests.connect("orders", port: port, in: directory)
        defer { client.close() }
        #expect(!Self.publishIsDenied(client))
        let denying = try Self.acls("acls-v2", in: directory, denyOrdersCreated: true)
        try Self.run(["fleet", "push", "--acls", denying, "--nats", upstream], in: directory)
        #expect(
            await eventually(timeout: .seconds(20), every: .milliseconds(200)) { Self.publishIsDenied(client) },
            "\(ServeCommandTests.read(stderr))")
        #expect(ServeCommandTests.read(stderr).contains("fleet: state version 2 in force"))

        // The bucket deleted at nats-server (an operator can; no service may) and pushed to again: the push
        // numbers after the version the live Warden has in force, and the Warden takes it.
        let (admin, _) = try Self.bucket(directory, upstream: upstream)
        let deleted = try admin.request("$JS.API.STREAM.DELETE.KV_WARDEN", "")
        admin.close()
        #expect(deleted.text.contains(#""success":true"#), "\(deleted.text)")
        let again = try Self.run(["fleet", "push", "--acls", denying, "--nats", upstream], in: directory)
        #expect(again.contains("pushed fleet state version 3"), "\(again)")
        #expect(
            await eventually(timeout: .seconds(15), every: .milliseconds(200)) {
                ServeCommandTests.read(stderr).contains("fleet: state version 3 in force")
            }, "\(ServeCommandTests.read(stderr))")

        // `warden fleet status`: this Warden is current; one that serves its files is not, and says so.
        let current = try warden(["fleet", "status", "--nats", upstream, "--wait", "2s"], in: directory.path)
        #expect(current.status == 0 && current.stdout.contains("current"), "\(current.stdout) \(current.stderr)")
        let filesPort = try Loopback.freePort()
        let (files, _, filesError) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(filesPort)", "--upstream", upstream,
                "--no-audit-events", "--decision-log", "logs/files.jsonl",
            ], in: directory)
        defer { if files.isRunning { files.terminate() } }
        #expect(Loopback.waitUntilListening(port: filesPort, timeout: 20), "\(ServeCommandTests.read(filesError))")
        let behind = try warden(["fleet", "status", "--nats", upstream, "--wait", "3s"], in: directory.path)
        #expect(behind.status == 1, "\(behind.stdout)")
        #expect(behind.stdout.contains("files (not following the bucket)"), "\(behind.stdout)")
        #expect(behind.stdout.contains("1 of 2 Warden(s) not on the bucket's state"), "\(behind.stdout)")
    }
}
