import Foundation
import NIOConcurrencyHelpers
import NATSClient
import Testing
import WardenPKI
import WardenTestSupport

@testable import WardenAudit

/// SIGHUP, SIGUSR1 and SIGUSR2 of `warden serve`, as an operator sends them.
extension ServeCommandTests {
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
}
